"""Users' data files: CSV / .npy tables (and series) read into arrays and checked.

Pure functions: they take bytes or paths and return arrays; they never print. The built-in
sets are in datasets.py.
"""

from __future__ import annotations

import io
import math
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alternators_cli.csv_cells import (
    MAX_COLUMNS,
    _is_number,
    row_labels,
    row_labels_note,
    split_records,
)
from alternators_cli.errors import BadInput


@dataclass
class Table:
    """A numeric table read from a user's file: rows are points, columns are dimensions."""

    values: np.ndarray  # (N, D) float64; NaN where a cell is missing
    columns: list[str]
    source: str
    notes: list[str] = field(default_factory=list)  # what reading did, for the CLI to say
    row_labels: RowLabels | None = None  # a row index written beside the data, set aside


@dataclass
class RowLabels:
    """A row index read beside the data (not modelled), to write back where rows are the
    input's own (imputation)."""

    name: str  # the header cell: "" (pandas, R) or "Unnamed: 0"
    cells: list[str]


def default_columns(d: int) -> list[str]:
    return [f"x{i}" for i in range(d)]


def looks_like_file(spec: str) -> bool:
    return spec == "-" or spec.lower().endswith((".csv", ".npy", ".txt", ".tsv")) or "/" in spec


def read_table(spec: str, stdin: io.BufferedIOBase | None = None) -> Table:
    """Read a `.csv`/`.npy` path, or CSV from standard input for `-`."""
    if spec == "-":
        if stdin is None:
            raise BadInput("no standard input to read CSV from")
        text = stdin.read()
        if isinstance(text, bytes):
            text = _decode(text, "standard input")
        return parse_csv(text, "standard input")
    path = Path(spec)
    raw = read_data_file(spec)
    if path.suffix.lower() == ".npy":
        return parse_npy(raw, spec)
    return parse_csv(_decode(raw, spec), spec)


def read_data_file(spec: str) -> bytes:
    """The bytes of a user's data file; a missing, unreadable or endless one (a directory,
    /dev/zero, a terminal) is a one-line BadInput."""
    path = Path(spec)
    if not path.exists():
        raise BadInput(f"file not found: {spec}")
    if path.is_dir():
        raise BadInput(f"{spec} is a directory, not a data file")
    if stat.S_ISCHR(path.stat().st_mode):  # /dev/zero, a terminal: no end to read to
        raise BadInput(f"{spec} is a device, not a data file")
    try:
        return path.read_bytes()
    except PermissionError:
        raise BadInput(f"file is not readable: {spec}") from None
    except OSError as exc:
        raise BadInput(f"cannot read {spec}: {exc.strerror}") from None


def _decode(raw: bytes, source: str) -> str:
    if b"\x00" in raw[:4096] and not raw.startswith(b"\x93NUMPY"):
        raise BadInput(f"{source} is a binary file, not CSV text")
    if raw.startswith(b"\x93NUMPY"):
        raise BadInput(f"{source} looks like a .npy array: give it a .npy file name")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    # A spreadsheet's export on Windows (Windows-1252: `température` as one byte 0xE9) is
    # read as such; the numbers are ASCII either way, and only names could be misread.
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _np_load(target, source: str, mmap: bool = False) -> np.ndarray:
    """np.load that never unpickles objects; a bad file is a one-line BadInput."""
    try:
        return np.load(target, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise BadInput(f"{source} holds Python objects; only numeric arrays load") from None
        raise BadInput(f"{source} is not a valid .npy array: {exc}") from None
    except (OSError, EOFError) as exc:
        raise BadInput(f"{source} is not a valid .npy array: {exc}") from None


def _load_npy(target, source: str, mmap: bool = False) -> np.ndarray:
    """np.load of a numeric 2-D array (1-D is one column), never unpickling objects."""
    arr = _np_load(target, source, mmap)
    numeric = np.issubdtype(arr.dtype, np.number) and not np.iscomplexobj(arr)
    if not (numeric or arr.dtype == np.bool_):
        raise BadInput(f"{source} has dtype {arr.dtype}; a numeric array is needed")
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise BadInput(f"{source} has shape {list(arr.shape)}; expected [N, D]")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise BadInput(f"{source} is empty (shape {list(arr.shape)})")
    if arr.shape[1] > MAX_COLUMNS:
        raise BadInput(f"{source} has {arr.shape[1]} columns; at most {MAX_COLUMNS} are supported")
    return arr


def parse_npy(raw: bytes, source: str) -> Table:
    values = _load_npy(io.BytesIO(raw), source).astype(np.float64)
    return Table(values, default_columns(values.shape[1]), source)


def parse_csv(text: str, source: str) -> Table:
    """Numeric CSV with an optional header row; empty cells and NaN become NaN."""
    lines = [ln for ln in _records(text) if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise BadInput(f"{source} is empty: no rows of data")
    rows, _ = split_records(lines, source)
    header: list[str] | None = None
    if any(not _is_number(cell) for cell in rows[0]):
        header = [c.strip() for c in rows[0]]
        rows = rows[1:]
        if not rows:
            raise BadInput(f"{source} has a header but no rows of data")
    # A spreadsheet's trailing delimiter (`a,b,` over `1,2,`): an unnamed, empty last column.
    while (len(rows[0]) > 1 and (header is None or (len(header) == len(rows[0])
                                                    and not header[-1]))
           and all(len(row) == len(rows[0]) and not row[-1].strip() for row in rows)):
        rows = [row[:-1] for row in rows]
        header = header[:-1] if header is not None else None
    labels = header is not None and row_labels(header, rows)
    if labels:  # read as missing, dropped below; rows and columns keep the file's numbers
        notes = [row_labels_note(rows)]
        kept = RowLabels(header[0], [row[0].strip() for row in rows])
        rows = [["", *row[1:]] for row in rows]
    width = len(header) if header else len(rows[0])
    values = np.empty((len(rows), width), dtype=np.float64)
    for i, row in enumerate(rows):
        lineno = i + (2 if header else 1)
        if len(row) != width:
            raise BadInput(
                f"{source}, data row {lineno}: {len(row)} columns, expected {width} (ragged rows)"
            )
        for j, cell in enumerate(row):
            cell = cell.strip()
            if cell == "" or cell.lower() in ("nan", "na"):
                values[i, j] = np.nan
                continue
            try:
                values[i, j] = float(cell)
            except ValueError:
                raise BadInput(_not_a_number(source, rows, j, lineno, header)) from None
    columns = header if header else default_columns(width)
    if labels:
        return Table(values[:, 1:], columns[1:], source, notes, kept)
    return Table(values, columns, source)


def match_columns(table: Table, wanted: list[str], what: str) -> Table:
    """The table's columns in the order of `wanted`: by name where both are named (any
    order; an unknown, missing or repeated name is refused, naming it), else by position
    (a table without a header, or a model without column names)."""
    unnamed = (table.columns == default_columns(len(table.columns))
               or wanted == default_columns(len(wanted)))
    if unnamed or table.columns == wanted:
        return table
    doubled = sorted({*repeated(table.columns), *repeated(wanted)})
    if doubled:
        raise BadInput(f"{what}: column name(s) {', '.join(map(repr, doubled))} appear more "
                       "than once, so its columns cannot be matched to the model's by name")
    differ = name_differences(table.columns, wanted, "column")
    if differ:
        raise BadInput(f"{what} has columns {', '.join(table.columns)} but the model's are "
                       f"{', '.join(wanted)}: {differ}")
    order = [table.columns.index(c) for c in wanted]
    return Table(table.values[:, order], list(wanted), table.source, table.notes)


def _records(text: str) -> list[str]:
    """The text's lines, with a quoted cell that holds a line break (a header written by
    the csv module, e.g. "a\nb") kept in one record."""
    records, pending = [], None
    for line in text.splitlines():
        pending = line if pending is None else pending + "\n" + line
        if pending.count('"') % 2 == 0:
            records.append(pending)
            pending = None
    if pending is not None:
        records.append(pending)
    return records


def column_label(j: int, columns: list[str] | None) -> str:
    """How a message names column j: `column 3 ('mass')`, or `column 3` without a name."""
    name = columns[j] if columns and j < len(columns) else ""
    return f"column {j + 1} ({name!r})" if name else f"column {j + 1}"


def _not_a_number(source: str, rows: list[list[str]], j: int, lineno: int,
                  header: list[str] | None) -> str:
    """A column of text categories is named as such; a stray word in numbers by its row."""
    cells = [r[j].strip() for r in rows if j < len(r) and r[j].strip()]
    text = [c for c in cells if not _is_number(c)]
    name = column_label(j, header)
    if len(text) > len(cells) / 2:
        examples = ", ".join(repr(c[:20]) for c in dict.fromkeys(text))
        examples = examples if len(examples) < 60 else examples[:57] + "..."
        return (f"{source}: {name} holds text ({examples}); only numeric columns can "
                "be modelled: encode it as numbers (e.g. one-hot columns) or drop it")
    cell = rows[lineno - (2 if header else 1)][j].strip()
    return f"{source}, data row {lineno}, {name}: {cell[:40]!r} is not a number"


def open_npy_rows(path: Path, chunk_rows: int = 1 << 20) -> np.ndarray:
    """A 2-D numeric .npy file as a read-only memory map, checked for non-finite values
    a chunk at a time, so files larger than memory can be trained on."""
    arr = _load_npy(path, str(path), mmap=True)
    if arr.shape[0] < 2:
        raise BadInput(f"{path} has shape {list(arr.shape)}; at least 2 rows are needed")
    for start in range(0, arr.shape[0], chunk_rows):
        with np.errstate(over="ignore"):
            block = np.asarray(arr[start : start + chunk_rows]).astype(np.float32)
        bad = ~np.isfinite(block)
        if bad.any():
            i, j = map(int, np.argwhere(bad)[0])
            raise BadInput(
                f"{path} has NaN, infinite or out-of-range values (first at row "
                f"{start + i + 1}, column {j + 1}); distributions need every cell finite"
            )
    return arr


def read_sequences(
    spec: str, stdin: io.BufferedIOBase | None = None
) -> tuple[np.ndarray, list[str]]:
    """A user's time series as (N, T, D) float32 with NaN = missing, and channel names.

    CSV: one long series (rows = time, columns = channels, empty cell or NaN = missing).
    .npy: [N, T, D] (several series), or [T, D] / [T] (one series).
    """
    if spec != "-" and Path(spec).suffix.lower() == ".npy" and Path(spec).is_file():
        arr = _np_load(spec, spec)
        if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
            raise BadInput(f"{spec} has dtype {arr.dtype}; a real numeric array is needed")
        if arr.ndim == 1:
            arr = arr[None, :, None]
        elif arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3 or 0 in arr.shape:
            raise BadInput(f"{spec} has shape {list(arr.shape)}; expected [N, T, D] or [T, D]")
        values, columns = arr.astype(np.float64), default_columns(arr.shape[2])
    else:
        table = read_table(spec, stdin)
        values, columns = table.values[None], table.columns
    return checked_series(values, columns, spec), columns


def checked_series(values: np.ndarray, columns: list[str], source: str) -> np.ndarray:
    """Series (N, T, D) as float32 once they are finite (NaN = missing), inside float32's
    range, and every channel observed somewhere."""
    if np.isinf(values).any():
        raise BadInput(f"{source} has infinite values; use an empty cell or NaN for missing")
    with np.errstate(over="ignore"):
        single = values.astype(np.float32)
    if np.isinf(single).any():
        raise BadInput(f"{source} has values out of range (|x| must stay below 3.4e38)")
    empty = np.isnan(single).all(axis=(0, 1))
    if empty.any():
        raise BadInput(f"{source}: channel {columns[int(np.argmax(empty))]!r} has no observed "
                       "value")
    return single


class RowSubset:
    """Rows `index` of a (possibly memory-mapped) array, gathered only when indexed."""

    def __init__(self, base: np.ndarray, index: np.ndarray):
        self.base, self.index = base, index

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, rows) -> np.ndarray:
        return np.asarray(self.base[np.sort(self.index[rows])], dtype=np.float32)


def check_distribution_table(table: Table, min_rows: int = 2) -> np.ndarray:
    """A table usable as a distribution: no missing or infinite values, enough rows."""
    v = table.values
    if v.shape[0] < min_rows:
        raise BadInput(f"{table.source} has {v.shape[0]} row(s); at least {min_rows} are needed")
    empty = np.isnan(v).all(axis=0)
    if empty.any():
        j = int(np.argmax(empty))
        raise BadInput(f"{table.source}: {column_label(j, table.columns)} has no value "
                       "(every cell empty or NaN): drop it")
    bad = ~np.isfinite(v)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        kind = "NaN/missing" if math.isnan(v[i, j]) else "infinite"
        raise BadInput(
            f"{table.source} has {int(bad.sum())} {kind} value(s) (first at row {i + 1}, "
            f"column {table.columns[j]!r}); distributions need every cell filled: drop or "
            "fill the incomplete rows"
        )
    with np.errstate(over="ignore"):
        single = v.astype(np.float32)
    big = ~np.isfinite(single)
    if big.any():
        i, j = map(int, np.argwhere(big)[0])
        raise BadInput(
            f"{table.source}: value {v[i, j]:g} at row {i + 1}, column {table.columns[j]!r} "
            "is out of range (|x| must stay below 3.4e38)"
        )
    return single


def repeated(names: list[str]) -> list[str]:
    """The names that appear more than once, sorted."""
    return sorted({c for c in names if names.count(c) > 1})


def name_differences(given: list[str], wanted: list[str], noun: str) -> str:
    """What keeps `given` names from matching `wanted` ones ("unknown column(s) 'a' and
    missing column(s) 'b'"), or "" where both hold the same names."""
    unknown = [c for c in given if c not in wanted]
    missing = [c for c in wanted if c not in given]
    parts = ([f"unknown {noun}(s) {', '.join(map(repr, unknown))}"] if unknown else []) + (
        [f"missing {noun}(s) {', '.join(map(repr, missing))}"] if missing else [])
    return " and ".join(parts)


def check_unique_names(columns: list[str], source: str) -> None:
    """Names that say which column is which: every output, and every input matched to the
    model by name (`evaluate --reference`, `forecast --input`), needs them distinct."""
    doubled = repeated(columns)
    if doubled:
        raise BadInput(f"{source}: column name(s) {', '.join(map(repr, doubled))} appear more "
                       "than once in the header: rename them")


def check_training_columns(values: np.ndarray, columns: list[str], source: str) -> None:
    """Columns a model can learn: distinct names, and no constant column (it has nothing
    to learn, and no scale)."""
    check_unique_names(columns, source)
    constant = (values.max(axis=0) == values.min(axis=0)) if len(values) else []
    if np.any(constant):
        j = int(np.argmax(constant))
        raise BadInput(
            f"{source}: {column_label(j, columns)} is constant (every row "
            f"{float(values[0, j]):g}); there is nothing to learn in it: drop it"
        )
