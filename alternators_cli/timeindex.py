"""Time columns of users' series: ISO dates and timestamps (numpy datetime64, no pandas),
their frequency and the future times of a forecast (series_files.py reads the files).

Pure: text or paths in, arrays and dataclasses out; never prints. Errors are BadInput.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np

from alternators_cli.errors import BadInput

# ISO 8601 dates and timestamps: YYYY, YYYY-MM, YYYY-MM-DD, YYYY-MM-DDThh:mm[:ss[.f]][Z|+hh:mm]
ISO_TIME = re.compile(
    r"^\d{4}-\d{2}(-\d{2}([T ]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?)?(Z|[+-]\d{2}:?\d{2})?$"
)
YEAR = re.compile(r"^\d{1,4}(\.0*)?$")  # a plain year, only in a column named --time-column
QUARTER = re.compile(r"^(\d{4})-?[Qq]([1-4])$")  # 1959Q1 (pandas' quarterly periods), 1959-Q1
# At most this share of a regular grid may be missing times (inserted as empty rows);
# sparser times are irregular.
MAX_MISSING_SHARE = 0.5
SECONDS = {"day": 86400, "hour": 3600, "minute": 60, "second": 1}
ID_COLUMN_HINT = (
    "for several series in one file (long format), keep one text column naming each row's "
    "series (or name it with --id-column) beside the time column, or write one file per "
    "series"
)
TIME_FORMAT_HINT = (
    "a column of times must hold ISO dates or timestamps (YYYY-MM-DD, YYYY-MM, "
    "YYYY-MM-DDThh:mm), quarters (YYYYQn), or plain years named with --time-column; a "
    "column naming each row's series (long format) needs a time column beside it"
)
DUPLICATE_HINT = (
    "several series in one file need a column naming each row's series (--id-column)"
)


def looks_like_time(cell: str) -> bool:
    """An ISO date or timestamp, or a quarter (a bare number such as a year is not: it is a
    value)."""
    text = cell.strip()
    return bool(ISO_TIME.match(text) or QUARTER.match(text))


def quarter_start(text: str) -> str | None:
    """`1959Q2` -> `1959-04`, the quarter's first month; None for anything else."""
    found = QUARTER.match(text)
    return f"{found[1]}-{3 * int(found[2]) - 2:02d}" if found else None


def _parse_one(cell: str, allow_year: bool) -> np.datetime64 | None:
    text = cell.strip()
    if YEAR.match(text) and allow_year:
        text = text.split(".")[0].zfill(4)
    elif QUARTER.match(text):
        text = quarter_start(text)
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
    space_separator: bool = False  # written as "YYYY-MM-DD hh:mm" rather than "...Thh:mm"
    quarters: bool = False  # written as "1959Q1" (times at the first month of each quarter)
    inserted: int = 0  # missing times added as empty rows (see `regular_grid`)

    def format(self, times: np.ndarray | None = None) -> list[str]:
        times = self.times if times is None else times
        if self.quarters:
            months = times.astype("datetime64[M]").astype(int)  # months since 1970-01
            return [f"{1970 + m // 12}Q{m % 12 // 3 + 1}" for m in months]
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
                "(use ISO dates or timestamps: YYYY-MM-DD, YYYY-MM, YYYY-MM-DDThh:mm, or "
                "quarters as YYYYQn)"
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


def describe(time: TimeIndex | None) -> str:
    if time is None:
        return ""
    freq = time.frequency.name if time.frequency else "irregular"
    return (f"{len(time.times)} times from {time.format(time.times[:1])[0]} to "
            f"{time.format(time.times[-1:])[0]} ({freq})")
