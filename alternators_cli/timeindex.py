"""Time columns of users' series: ISO dates and timestamps (numpy datetime64, no pandas),
their frequency, the future times of a forecast, and a CSV reader that carries a time
column beside the channels.

Pure: text or paths in, arrays and dataclasses out; never prints. Errors are BadInput.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from alternators_cli.errors import BadInput

# ISO 8601 dates and timestamps: 2024, 2024-01, 2024-01-31, 2024-01-31T10:00[:00[.5]][Z|+01:00]
ISO_TIME = re.compile(
    r"^\d{4}-\d{2}(-\d{2}([T ]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?)?(Z|[+-]\d{2}:?\d{2})?$"
)
YEAR = re.compile(r"^\d{1,4}(\.0*)?$")  # a plain year, only in a column named --time-column
# At most this share of a regular grid may be missing times (inserted as empty rows);
# sparser times are irregular.
MAX_MISSING_SHARE = 0.5
SECONDS = {"day": 86400, "hour": 3600, "minute": 60, "second": 1}
ID_COLUMN_HINT = (
    "for several series in one file (long format), keep one text column naming each row's "
    "series (or name it with --id-column) beside the time column, or write one file per "
    "series"
)
DUPLICATE_HINT = (
    "several series in one file need a column naming each row's series (--id-column)"
)


def looks_like_time(cell: str) -> bool:
    """An ISO date or timestamp (a bare number such as 2024 is not: it is a value)."""
    return bool(ISO_TIME.match(cell.strip()))


def _parse_one(cell: str, allow_year: bool) -> np.datetime64 | None:
    text = cell.strip()
    if YEAR.match(text) and allow_year:
        text = text.split(".")[0].zfill(4)
    elif not ISO_TIME.match(text):
        return None
    if text.endswith("Z"):
        text = text[:-1]
    try:
        with warnings.catch_warnings():  # an offset is read as UTC; numpy warns about it
            warnings.simplefilter("ignore")
            value = np.datetime64(text)
    except ValueError:
        return None
    return None if np.isnat(value) else value


@dataclass
class Frequency:
    """A regular step between times: `months` calendar months, or a fixed `step`."""

    name: str  # daily, weekly, monthly, quarterly, yearly, hourly, every 15 minutes, ...
    months: int = 0
    step: np.timedelta64 | None = None
    month_end: bool = False  # monthly steps on the last day of each month
    offset: np.timedelta64 | None = None  # time within the month of month-based steps

    def positions(self, times: np.ndarray) -> np.ndarray:
        """The integer step of every time from the first one."""
        if self.months:
            m = times.astype("datetime64[M]").astype(np.int64)
            return (m - m[0]) // self.months
        return ((times - times[0]) // self.step).astype(np.int64)

    def at(self, first: np.datetime64, steps: np.ndarray) -> np.ndarray:
        """Times `steps` steps after `first` (same unit as `first`)."""
        steps = np.asarray(steps, dtype=np.int64)
        if not self.months:
            return (first + steps * self.step).astype(first.dtype)
        month = first.astype("datetime64[M]") + steps * self.months
        unit = np.datetime_data(first.dtype)[0]
        if unit in ("Y", "M"):
            return month.astype(first.dtype)
        if self.month_end:
            return ((month + 1).astype(first.dtype) - np.timedelta64(1, "D")).astype(first.dtype)
        return (month.astype(first.dtype) + self.offset).astype(first.dtype)


def _fixed_name(seconds: int) -> str:
    if seconds == 86400:
        return "daily"
    if seconds == 7 * 86400:
        return "weekly"
    if seconds == 3600:
        return "hourly"
    for unit, size in SECONDS.items():
        if seconds % size == 0:
            count = seconds // size
            return f"every {unit}" if count == 1 else f"every {count} {unit}s"
    return f"every {seconds} s"


def _month_name(months: int) -> str:
    return {1: "monthly", 3: "quarterly", 6: "half-yearly", 12: "yearly"}.get(
        months, f"every {months} months"
    )


def infer_frequency(times: np.ndarray) -> Frequency | None:
    """The regular step of increasing `times` (a few missing times allowed), or None when
    they are irregular or fewer than two."""
    if len(times) < 2:
        return None
    unit = np.datetime_data(times.dtype)[0]
    months = times.astype("datetime64[M]")
    within = times - months.astype(times.dtype)
    freq = None
    if unit in ("Y", "M"):
        freq = Frequency("", months=1)
    elif unit == "D" or unit in ("h", "m", "s", "ms", "us", "ns"):
        day = np.timedelta64(1, "D").astype(within.dtype)
        same_offset = bool((within == within[0]).all())
        month_end = bool(((times + day).astype("datetime64[M]") == months + 1).all())
        if same_offset or month_end:
            freq = Frequency("", months=1, month_end=month_end and not same_offset,
                             offset=within[0])
    if freq is not None:
        n = int(np.gcd.reduce(np.diff(months.astype(np.int64))))
        if n >= 1:
            freq.months = n
            freq.name = (f"every {n // 12} years" if n % 12 == 0 and n > 12
                         else _month_name(n))
            return freq if _dense(freq.positions(times), len(times)) else None
    deltas = np.diff(times).astype(np.int64)
    step = int(np.gcd.reduce(deltas))
    if step <= 0:
        return None
    td = np.timedelta64(step, unit)
    seconds = td / np.timedelta64(1, "s")
    name = _fixed_name(int(seconds)) if seconds >= 1 and float(seconds).is_integer() else (
        f"every {td}")
    freq = Frequency(name, step=td)
    return freq if _dense(freq.positions(times), len(times)) else None


def _dense(positions: np.ndarray, count: int) -> bool:
    grid = int(positions[-1]) + 1
    return grid - count <= MAX_MISSING_SHARE * grid


@dataclass
class TimeIndex:
    """The times of a series' rows, as parsed from its time column."""

    name: str
    times: np.ndarray  # datetime64, strictly increasing
    frequency: Frequency | None  # None: irregular
    space_separator: bool = False  # written as "2024-01-01 10:00" rather than "...T10:00"
    inserted: int = 0  # missing times added as empty rows (see `regular_grid`)

    def format(self, times: np.ndarray | None = None) -> list[str]:
        times = self.times if times is None else times
        text = np.datetime_as_string(times)
        if self.space_separator:
            text = np.char.replace(text, "T", " ")
        return [str(t) for t in text]

    def future(self, horizon: int) -> np.ndarray:
        """The `horizon` times after the last one at the series' frequency."""
        if self.frequency is None:
            raise BadInput(
                f"the times in column {self.name!r} are irregular, so a forecast has no "
                "future times: give a series at a regular frequency (daily, weekly, monthly, "
                "...; empty rows mark missing values)"
            )
        first = self.times[0]
        last = int(self.frequency.positions(self.times)[-1])
        return self.frequency.at(first, np.arange(last + 1, last + 1 + horizon))


def parse_times(cells: list[str], column: str, source: str, first_row: int,
                allow_year: bool = False, rows: list[int] | None = None) -> np.ndarray:
    """Cells of a time column -> strictly increasing datetime64; an unparseable, empty,
    duplicated or out-of-order time is one BadInput naming its data row (`rows`: the row
    number of each cell, by default counted from `first_row`)."""
    rows = rows if rows is not None else [first_row + i for i in range(len(cells))]
    parsed = []
    for i, cell in enumerate(cells):
        value = _parse_one(cell, allow_year)
        if value is None:
            what = "is empty" if not cell.strip() else f"{cell.strip()[:40]!r} is not a date"
            raise BadInput(
                f"{source}, data row {rows[i]}, time column {column!r}: {what} "
                "(use ISO dates or timestamps such as 2024-01-31 or 2024-01-31T10:00)"
            )
        parsed.append(value)
    times = np.array(parsed)
    order = np.diff(times)
    zero = np.timedelta64(0, np.datetime_data(order.dtype)[0]) if len(order) else None
    if len(order) and (order <= zero).any():
        i = int(np.argmax(order <= zero))
        a, b = cells[i].strip(), cells[i + 1].strip()
        if order[i] == zero:
            raise BadInput(
                f"{source}: time {b!r} appears twice in column {column!r} (data rows "
                f"{rows[i]} and {rows[i + 1]}); {DUPLICATE_HINT}"
            )
        raise BadInput(
            f"{source}: times in column {column!r} go backwards at data row "
            f"{rows[i + 1]} ({b!r} after {a!r}): sort the rows by time; {DUPLICATE_HINT}"
        )
    return times


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
    from alternators_cli.data import _is_number as is_number

    return is_number(cell)


def read_series(spec: str, stdin=None, time_column: str | None = None,
                id_column: str | None = None) -> Series:
    """A user's series: `.npy` [N, T, D] / [T, D] / [T], or CSV (rows = time, columns =
    channels, empty or NaN = missing) with an optional header and an optional time column
    (named by `time_column`, or found as the column whose cells are ISO dates). Missing
    times of a regular series come back as empty rows (`Series.notes` says how many)."""
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
    delimiter = "\t" if "\t" in lines[0] and "," not in lines[0] else ","
    try:
        rows = list(csv.reader(lines, delimiter=delimiter))
    except csv.Error as exc:
        raise BadInput(f"{source} is not valid CSV: {exc}") from None
    first = rows[0]
    has_header = any(not _is_number(c) and not looks_like_time(c) for c in first)
    header = [c.strip() for c in first] if has_header else None
    body = rows[1:] if has_header else rows
    if not body:
        raise BadInput(f"{source} has a header but no rows of data")
    first_row = 2 if has_header else 1
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
        t_index = found[0] if found else None
    id_index = None
    if id_column is not None:
        if header is None or id_column not in header:
            have = f"columns: {', '.join(header)}" if header else "no header row"
            raise BadInput(f"--id-column {id_column}: {source} has no such column ({have})")
        id_index = header.index(id_column)
    texts = [j for j, cell in enumerate(body[0]) if j not in (t_index, id_index)
             and not _is_number(cell) and not looks_like_time(cell)]
    if id_index is None and len(texts) == 1 and t_index is not None and header is not None:
        id_index = texts.pop()  # long format: a column naming each row's series
    if texts:
        named = [repr(header[j]) if header and j < len(header) else f"column {j + 1}"
                 for j in texts]
        verb = "holds" if len(texts) == 1 else "hold"
        raise BadInput(
            f"{source}, data row {first_row}: {', '.join(named)} {verb} text "
            f"({body[0][texts[0]].strip()[:30]!r}), not numbers: {ID_COLUMN_HINT}"
        )
    if id_index is not None and t_index is None:
        raise BadInput(f"{source}: several series (column {header[id_index]!r}) need a time "
                       "column to line them up: add one, or write one file per series")
    if t_index is None:
        table = parse_csv(text, source)
        series = Series(_checked(table.values[None], table.columns, source), table.columns,
                        has_header, None, source)
        return series
    special = [j for j in (t_index, id_index) if j is not None]
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
    if id_index is None:
        times = parse_times(cells, name, source, first_row, allow_year)
        time = TimeIndex(name, times, infer_frequency(times), space_separator=space)
        series = Series(_checked(values[None], columns, source), columns, has_header, time,
                        source)
        return regular_grid(series)
    return _long_format(values, columns, cells, [row[id_index].strip() for row in body],
                        header[id_index], name, source, first_row, allow_year, space)


def _long_format(values, columns, cells, ids, id_name, time_name, source, first_row,
                 allow_year, space) -> Series:
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
    time = TimeIndex(time_name, grid_times, freq, space_separator=space)
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


def describe(time: TimeIndex | None) -> str:
    if time is None:
        return ""
    freq = time.frequency.name if time.frequency else "irregular"
    return (f"{len(time.times)} times from {time.format(time.times[:1])[0]} to "
            f"{time.format(time.times[-1:])[0]} ({freq})")
