"""Encoding points as CSV or .npy, chunk by chunk, so large outputs stream."""

from __future__ import annotations

import io

import numpy as np

FLOAT_FORMAT = "%.7g"  # float32 round-trips at 9 digits; 7 keeps files small and exact enough


def csv_header(columns: list[str], with_step: bool = False) -> bytes:
    names = (["step"] if with_step else []) + list(columns)
    return (",".join(names) + "\n").encode()


def csv_rows(points: np.ndarray, step: int | None = None) -> bytes:
    """points: (c, D) -> CSV lines; with `step`, a leading integer step column."""
    buf = io.StringIO()
    if step is None:
        np.savetxt(buf, points, fmt=FLOAT_FORMAT, delimiter=",")
    else:
        fmt = ["%d"] + [FLOAT_FORMAT] * points.shape[1]
        col = np.full((len(points), 1), step, dtype=np.float64)
        np.savetxt(buf, np.hstack([col, points.astype(np.float64)]), fmt=fmt, delimiter=",")
    return buf.getvalue().encode()


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
