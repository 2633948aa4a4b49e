"""Users' series files: `.npy` or CSV with an optional header, an optional time column
(timeindex.py) and an optional id column (several series in long format), read into a
`Series` on a regular time grid.

Pure: text or paths in, arrays and dataclasses out; never prints. Errors are BadInput.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from alternators_cli.errors import BadInput
from alternators_cli.timeindex import (
    DUPLICATE_HINT,
    ID_COLUMN_HINT,
    TIME_FORMAT_HINT,
    YEAR,
    TimeIndex,
    infer_frequency,
    looks_like_time,
    parse_times,
    quarter_start,
)

if TYPE_CHECKING:
    from alternators_cli.data import RowLabels


@dataclass
class Series:
    """A user's series as read: values (N, T, D) float32 with NaN = missing, channel names,
    whether the names came from a header, and the rows' times (one dated series only)."""

    values: np.ndarray
    columns: list[str]
    has_header: bool
    time: TimeIndex | None = None
    source: str = ""
    notes: list[str] = field(default_factory=list)  # what was done, for the CLI to say
    # Several series in one file (long format): their names, the id column's name, and
    # the span [start, stop) of grid steps each series has rows in.
    ids: list[str] | None = None
    id_name: str | None = None
    spans: list[tuple[int, int]] | None = None
    row_labels: RowLabels | None = None  # a file without a time column: its row index


def _read_text(spec: str, stdin) -> str:
    from alternators_cli.data import _decode

    if spec == "-":
        if stdin is None:
            raise BadInput("no standard input to read CSV from")
        text = stdin.read()
        return _decode(text, "standard input") if isinstance(text, bytes) else text
    from alternators_cli.data import read_data_file

    return _decode(read_data_file(spec), spec)


def _is_number(cell: str) -> bool:
    from alternators_cli.csv_cells import _is_number as is_number

    return is_number(cell)


def read_series(spec: str, stdin=None, time_column: str | None = None,
                id_column: str | None = None,
                trained_with: tuple[str | None, str | None] = (None, None)) -> Series:
    """A user's series: `.npy` [N, T, D] / [T, D] / [T], or CSV (rows = time, columns =
    channels, empty or NaN = missing) with an optional header and an optional time column
    (named by `time_column`, or found as the column whose cells are ISO dates). Missing
    times of a regular series come back as empty rows (`Series.notes` says how many).
    `trained_with`: the model's (time column, id column), read as such where not named and
    the header has them."""
    from alternators_cli.csv_cells import row_labels, row_labels_note, split_records
    from alternators_cli.data import parse_csv, read_sequences

    source = "standard input" if spec == "-" else spec
    if spec != "-" and Path(spec).suffix.lower() == ".npy" and Path(spec).is_file():
        if time_column is not None:
            raise BadInput(f"--time-column {time_column}: {spec} is a .npy array, which has "
                           "no time column")
        values, columns = read_sequences(spec)
        return Series(values, columns, False, None, source)
    text = _read_text(spec, stdin)
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise BadInput(f"{source} is empty: no rows of data")
    rows, delimiter = split_records(lines, source)
    first = rows[0]
    has_header = any(not _is_number(c) and not looks_like_time(c) for c in first)
    header = [c.strip() for c in first] if has_header else None
    body = rows[1:] if has_header else rows
    if not body:
        raise BadInput(f"{source} has a header but no rows of data")
    first_row = 2 if has_header else 1
    if header is not None:
        model_time, model_id = trained_with
        time_column = time_column or (model_time if model_time in header else None)
        id_column = id_column or (model_id if model_id in header else None)
    allow_year = False
    if time_column is not None:
        if header is None:
            raise BadInput(f"--time-column {time_column}: {source} has no header row to "
                           "name its columns")
        if time_column not in header:
            raise BadInput(f"--time-column {time_column}: {source} has no such column "
                           f"(columns: {', '.join(header)})")
        t_index, allow_year = header.index(time_column), True
    else:
        found = [j for j, c in enumerate(body[0]) if looks_like_time(c)]
        t_index = found[0] if found else year_column(header, body)
        allow_year = t_index is not None and not found
    id_index = None
    if id_column is not None:
        if header is None or id_column not in header:
            have = f"columns: {', '.join(header)}" if header else "no header row"
            raise BadInput(f"--id-column {id_column}: {source} has no such column ({have})")
        id_index = header.index(id_column)
    labels = header is not None and t_index != 0 and row_labels(header, body)
    texts = [j for j, cell in enumerate(body[0]) if j not in (t_index, id_index)
             and not (labels and j == 0) and not _is_number(cell) and not looks_like_time(cell)]
    if id_index is None and len(texts) == 1 and t_index is not None and header is not None:
        id_index = texts.pop()  # long format: a column naming each row's series
    if texts:
        named = [repr(header[j]) if header and j < len(header) else f"column {j + 1}"
                 for j in texts]
        verb = "holds" if len(texts) == 1 else "hold"
        hint = ID_COLUMN_HINT if t_index is not None else TIME_FORMAT_HINT
        raise BadInput(
            f"{source}, data row {first_row}: {', '.join(named)} {verb} text "
            f"({body[0][texts[0]].strip()[:30]!r}), not numbers: {hint}"
        )
    if id_index is not None and t_index is None:
        raise BadInput(f"{source}: several series (column {header[id_index]!r}) need a time "
                       "column to line them up: add one, or write one file per series")
    if t_index is None:
        table = parse_csv(text, source)
        return Series(_checked(table.values[None], table.columns, source), table.columns,
                      has_header, None, source, notes=table.notes,
                      row_labels=table.row_labels)
    special = [j for j in (t_index, id_index, 0 if labels else None) if j is not None]
    name = header[t_index] if header else "time"
    cells = [row[t_index] if t_index < len(row) else "" for row in body]
    blanked = [[("" if j in special else c) for j, c in enumerate(row)] for row in body]
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    if header is not None:
        writer.writerow(first)
    writer.writerows(blanked)
    table = parse_csv(buf.getvalue(), source)  # row and column numbers as in the file
    keep = [j for j in range(table.values.shape[1]) if j not in special]
    if not keep:
        raise BadInput(f"{source} has a time column {name!r} but no channels")
    values = table.values[:, keep]
    columns = [table.columns[j] for j in keep] if header else [f"x{i}" for i in range(len(keep))]
    space = any(" " in c.strip() for c in cells[:5])
    quarterly = any(quarter_start(c.strip()) for c in cells[:5])
    if id_index is None:
        times = parse_times(cells, name, source, first_row, allow_year)
        time = TimeIndex(name, times, infer_frequency(times), space_separator=space,
                         quarters=quarterly)
        series = regular_grid(Series(_checked(values[None], columns, source), columns,
                                     has_header, time, source))
    else:
        series = _long_format(values, columns, cells, [row[id_index].strip() for row in body],
                              header[id_index], name, source, first_row, allow_year, space,
                              quarterly)
    if labels:  # a row index beside the time column: neither time nor channel
        series.notes.insert(0, row_labels_note(body))
    return series


YEAR_NAMES = ("year", "yr", "period", "date")  # headers over a column of plain years


def year_column(header: list[str] | None, body: list[list[str]]) -> int | None:
    """The first column named year, yr, period or date (any case) whose cells are years
    1000-2999 rising by one from row to row (statsmodels' `nile` and `sunspots`: `1871.0`,
    `1872.0`, ...; a yearly pandas period index: `1821`), as a time column; None where
    there is none (a step counter is not read as years)."""
    if header is None:
        return None
    for j, name in enumerate(header):
        if name.strip().lower() not in YEAR_NAMES:
            continue
        cells = [row[j].strip() if j < len(row) else "" for row in body]
        if len(cells) < 2 or not all(YEAR.match(c) for c in cells):
            continue
        years = np.array([int(float(c)) for c in cells])
        if (np.diff(years) == 1).all() and years[0] >= 1000 and years[-1] <= 2999:
            return j
    return None


def _long_format(values, columns, cells, ids, id_name, time_name, source, first_row,
                 allow_year, space, quarterly) -> Series:
    """Rows of several series (an id column) -> (N, T, D) on one grid of times: the union of
    every series' times at their common frequency, NaN where a series has no row."""
    rows_of: dict[str, list[int]] = {}  # in order of first appearance
    for i, v in enumerate(ids):
        rows_of.setdefault(v, []).append(i)
    names = list(rows_of)
    per = {}
    for k in names:
        rows = rows_of[k]
        try:
            per[k] = parse_times([cells[i] for i in rows], time_name, source, first_row,
                                 allow_year, rows=[first_row + i for i in rows])
        except BadInput as exc:
            message = str(exc).replace(f"; {DUPLICATE_HINT}", "")
            raise BadInput(f"{message} (series {k!r})") from None
    union = np.unique(np.concatenate([per[k] for k in names]))
    freq = infer_frequency(union)
    if freq is not None:
        grid_times = freq.at(union[0], np.arange(int(freq.positions(union)[-1]) + 1))
    else:
        grid_times = union
    T, D = len(grid_times), values.shape[1]
    out = np.full((len(names), T, D), np.nan)
    spans = []
    for n, k in enumerate(names):
        at = np.searchsorted(grid_times, per[k].astype(grid_times.dtype))
        out[n, at] = values[rows_of[k]]
        spans.append((int(at[0]), int(at[-1]) + 1))
    time = TimeIndex(time_name, grid_times, freq, space_separator=space,
                     quarters=quarterly)
    series = Series(_checked(out, columns, source), columns, True, time, source,
                    ids=names, id_name=id_name, spans=spans)
    series.notes.append(f"{len(names)} series in column {id_name!r}, on {T} "
                        f"{freq.name if freq else 'irregular'} times")
    return series


def _checked(values: np.ndarray, columns: list[str], source: str) -> np.ndarray:
    """The checks of data.read_sequences: finite, in float32 range, no empty channel."""
    from alternators_cli.data import checked_series

    return checked_series(values, columns, source)


def regular_grid(series: Series) -> Series:
    """A regular series with missing times gets them back as empty rows (NaN), so that
    rows are equally spaced in time, as the model reads them."""
    time = series.time
    if time is None:
        return series
    if time.frequency is None:
        if len(time.times) > 1:
            series.notes.append(f"the times in column {time.name!r} are irregular: rows are "
                                "read as equally spaced")
        return series
    positions = time.frequency.positions(time.times)
    grid = int(positions[-1]) + 1
    if grid == len(positions):
        return series
    N, _, D = series.values.shape
    values = np.full((N, grid, D), np.nan, dtype=np.float32)
    values[:, positions] = series.values
    times = time.frequency.at(time.times[0], np.arange(grid))
    added = grid - len(positions)
    series.notes.append(f"{added} missing {time.frequency.name} time(s) in column "
                        f"{time.name!r} added as empty rows")
    return replace(series, values=values,
                   time=replace(time, times=times, inserted=added))
