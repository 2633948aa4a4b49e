"""Process-level memory allocator settings for training and sampling.

A training step allocates and frees dozens of tensors of a few MB (the OPN's activations
over T x m x B rows). glibc serves blocks that large with fresh mmap()s and gives them back
to the OS when they are freed, so every step touches new pages: about 1,500 page faults
and ~5 ms of system time per default step at one thread. Sampling does the same with each
chunk's activations (about 3 page faults per point: 1e6 points cost seconds of system
time). Keeping freed memory in the heap for reuse removes them; the peak memory is
unchanged, the process just does not return it between steps.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

# mallopt() parameters, from glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 64 << 20  # blocks below 64 MB come from the heap and are reused
TRIM_THRESHOLD = 128 << 20  # give the heap's top back to the OS only beyond 128 MB free


@functools.cache  # once per process: finding the C library can start a subprocess
def reuse_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed blocks for reuse. True if it took effect.

    A no-op (False) where the C library is not glibc: macOS and Windows allocators, and
    musl, manage this themselves.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        if not hasattr(libc, "gnu_get_libc_version"):
            return False  # not glibc: its mallopt parameters may mean something else
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
