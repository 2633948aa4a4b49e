"""Encoding points as CSV or .npy, chunk by chunk, so large outputs stream."""

from __future__ import annotations

import csv
import io

import numpy as np

CSV_BLOCK_ROWS = 16_384  # rows formatted at once by csv_rows
FLOAT_FORMAT = "%.7g"  # float32 round-trips at 9 digits; 7 keeps files small and exact enough


def csv_header(columns: list[str], with_step: bool = False) -> bytes:
    """The header line, by the csv module's writer: a name holding a comma, quote or line
    break is quoted, so the file reads back with the same names."""
    names = (["step"] if with_step else []) + list(columns)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(names)
    return buf.getvalue().encode()


def csv_rows(
    points: np.ndarray, step: int | None = None, index: np.ndarray | None = None
) -> bytes:
    """points: (c, D) -> CSV lines, after leading integer columns: `step` (one value for
    every row) or `index` (c, k) (e.g. path and time of each row)."""
    if step is not None:
        index = np.full((len(points), 1), step)
    formats = [FLOAT_FORMAT] * points.shape[1]
    if index is not None:
        formats = ["%d"] * index.shape[1] + formats
    # One %-format per block of rows: the bytes of np.savetxt (which formats the same way,
    # row by row in Python) at a quarter of its time. Blocks bound what is held at once
    # when a caller passes a whole series: the Python floats, and the index joined to the
    # points in float64.
    line = ",".join(formats) + "\n"

    def block(i: int) -> bytes:
        rows = points[i : i + CSV_BLOCK_ROWS]
        if index is not None:
            rows = np.hstack([index[i : i + CSV_BLOCK_ROWS].astype(np.float64),
                              rows.astype(np.float64)])
        return ((line * len(rows)) % tuple(rows.ravel().tolist())).encode()

    return b"".join(block(i) for i in range(0, len(points), CSV_BLOCK_ROWS))


def grid_index(*sizes: int) -> np.ndarray:
    """Every combination of range(n1) x range(n2) x ..., in C order: (prod, len(sizes))."""
    return np.stack(np.meshgrid(*map(np.arange, sizes), indexing="ij"), -1).reshape(-1, len(sizes))


def npy_header(shape: tuple[int, ...], dtype=np.float32) -> bytes:
    """The header of a C-ordered .npy file; the raw little-endian data follows it."""
    buf = io.BytesIO()
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
        "fortran_order": False,
        "shape": tuple(int(s) for s in shape),
    }
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()
