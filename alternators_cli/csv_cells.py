"""CSV text as users' tools write it: the delimiter (comma, tab, or semicolons with decimal
commas), numbers, and a row index written beside the data (pandas' `to_csv`, R's
`write.csv`). Pure: text in, cells and verdicts out (data.py and series_files.py read
the files)."""

from __future__ import annotations

import csv
import re

from alternators_cli.errors import BadInput

MAX_COLUMNS = 100_000
# The header cell over a row index written with the data: pandas' to_csv and R's write.csv
# leave it empty; pandas names it "Unnamed: 0" when such a file is read and written again.
ROW_LABEL_HEADERS = ("", "Unnamed: 0")
DECIMAL_COMMA = re.compile(r"^\s*[+-]?\d*,\d+([eE][+-]?\d+)?\s*$")


def row_labels(header: list[str], rows: list[list[str]]) -> bool:
    """Whether the first column holds row labels, not data: a row index that pandas' to_csv
    or R's write.csv wrote beside the data, under an empty name, distinct in every row,
    and whole numbers or text (fractional numbers under an empty name stay data)."""
    if len(header) < 2 or header[0].strip() not in ROW_LABEL_HEADERS:
        return False
    cells = [row[0].strip() if row else "" for row in rows]
    if not all(cells) or len(set(cells)) != len(cells):
        return False
    return all(_is_whole(c) for c in cells) or not all(_is_number(c) for c in cells)


def row_labels_note(rows: list[list[str]]) -> str:
    first, last = rows[0][0].strip()[:20], rows[-1][0].strip()[:20]
    return (f"column 1 (unnamed: {first!r} ... {last!r}) is read as row labels, a row "
            "index written with the data, and is not modelled")


def _is_whole(cell: str) -> bool:
    try:
        int(cell)
    except ValueError:
        return False
    return True


def delimiter_of(first: str) -> str:
    """Comma, or tab or semicolon where the first line has them and no more commas (a
    spreadsheet's export in a locale whose decimal mark is a comma writes `1,5;2`)."""
    if "\t" in first and "," not in first:
        return "\t"
    if ";" not in first:
        return ","
    numbers = all(_is_number(c) or DECIMAL_COMMA.match(c) for c in first.split(";"))
    return ";" if numbers or first.count(";") > first.count(",") else ","


def split_records(lines: list[str], source: str) -> tuple[list[list[str]], str]:
    """CSV records -> rows of cells, and the delimiter; with semicolons, a decimal comma
    (`1,5`) is read as a decimal point."""
    delimiter = delimiter_of(lines[0])
    if lines[0].count(delimiter) + 1 > MAX_COLUMNS:
        raise BadInput(f"{source} has more than {MAX_COLUMNS} columns")
    try:
        rows = list(csv.reader(lines, delimiter=delimiter))
    except csv.Error as exc:
        raise BadInput(f"{source} is not valid CSV: {exc}") from None
    if delimiter == ";":
        rows = [[c.replace(",", ".") if DECIMAL_COMMA.match(c) else c for c in row]
                for row in rows]
    return rows, delimiter


def _is_number(cell: str) -> bool:
    cell = cell.strip()
    if cell == "" or cell.lower() in ("nan", "na"):
        return True
    try:
        float(cell)
    except ValueError:
        return False
    return True
