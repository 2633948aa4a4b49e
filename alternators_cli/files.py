"""Writing files so that they appear whole or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from alternators_cli.errors import BadInput


def check_writable_target(path: Path) -> None:
    """Fail early (before any long work) if `path` cannot be written."""
    if path.is_dir():
        raise BadInput(f"output path {path} is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise BadInput(f"output directory {parent} does not exist")
    if not parent.is_dir():
        raise BadInput(f"output directory {parent} is not a directory")
    if not os.access(parent, os.W_OK):
        raise BadInput(f"output directory {parent} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise BadInput(f"output file {path} is not writable")


@contextlib.contextmanager
def atomic_open(path: Path) -> Iterator[BinaryIO]:
    """Write to a temporary file beside `path`; on success fsync and rename over it.

    On any error (or Ctrl-C) the temporary file is removed and `path` is untouched.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc.strerror}") from None
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_open(path) as f:
        f.write(data)


def atomic_write_with(path: Path, writer: Callable[[BinaryIO], None]) -> None:
    with atomic_open(path) as f:
        writer(f)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    # Make the rename itself durable; not every platform can open a directory.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
