"""Writing files so that they appear whole or not at all.

A regular file (or a new one) is written to a temporary file beside it, then renamed over
it: it keeps its permissions, and a reader never sees half of it. Anything else (a
character device such as /dev/null, a FIFO, a pipe or terminal given as /dev/stdout or
/dev/fd/N) is written in place and never replaced. Temporaries are named
`.NAME.PID.XXXXXXXX.tmp`: one left by a killed process (SIGKILL; every other signal
removes its own) is removed by the next write in the same directory.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from alternators_cli.errors import BadInput, RunFailure

# /dev/stdout, /dev/stderr, /dev/fd/N and /proc/self/fd/N name a descriptor this process
# already holds: it is written through (a duplicate of) that descriptor.
_FD_PATH = re.compile(r"^/(?:dev/fd|proc/self/fd)/(\d+)$")
_STD_PATHS = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}
# What this module's temporaries (files and staging directories) are called.
TEMP_NAME = re.compile(r"^\..+\.(\d+)\.[A-Za-z0-9_]{8}\.(?:tmp|old)$")


def named_descriptor(path: Path | str) -> int | None:
    """The descriptor number a path like /dev/stdout or /dev/fd/3 names, else None."""
    text = os.path.normpath(str(path))
    if text in _STD_PATHS:
        return _STD_PATHS[text]
    match = _FD_PATH.match(text)
    return int(match.group(1)) if match else None


def is_special(path: Path) -> bool:
    """True for a target written in place: a descriptor path, or an existing non-regular
    file (character or block device, FIFO, socket)."""
    if named_descriptor(path) is not None:
        return True
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def check_writable_target(path: Path) -> None:
    """Fail early (before any long work) if `path` cannot be written."""
    path = Path(path)
    fd = named_descriptor(path)
    if fd is not None:
        try:
            os.fstat(fd)
        except OSError:
            raise BadInput(f"cannot write {path}: descriptor {fd} is not open") from None
        return
    try:
        if path.is_dir():
            raise BadInput(f"output path {path} is a directory")
        if is_special(path):
            if not os.access(path, os.W_OK):
                raise BadInput(f"output file {path} is not writable")
            return
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.exists():
            raise BadInput(f"output directory {parent} does not exist")
        if not parent.is_dir():
            raise BadInput(f"output directory {parent} is not a directory")
        if not os.access(parent, os.W_OK):
            raise BadInput(f"output directory {parent} is not writable")
        if path.exists() and not os.access(path, os.W_OK):
            raise BadInput(f"output file {path} is not writable")
    except OSError as exc:  # e.g. a name longer than the system allows
        raise _cannot_write(path, exc) from None


@contextlib.contextmanager
def atomic_open(path: Path) -> Iterator[BinaryIO]:
    """Open `path` for writing: a regular file atomically, anything else in place.

    Atomically: write to a temporary file beside `path`; on success fsync and rename over
    it, keeping an existing file's permissions. On any error, signal or Ctrl-C the
    temporary file is removed and `path` is untouched.
    """
    path = Path(path)
    if is_special(path):
        with _open_in_place(path) as f:
            yield f
            f.flush()
        return
    path = Path(os.path.realpath(path))  # a symlink stays a symlink; its target is replaced
    directory = path.parent
    remove_stale_temporaries(directory)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp",
                                   dir=directory)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    try:
        try:
            keep = os.stat(path).st_mode & 0o7777  # an existing file keeps its permissions
        except FileNotFoundError:
            keep = 0o666 & ~_umask()  # mkstemp makes 0600; a new file gets the usual ones
        os.chmod(tmp, keep)
        with _write_errors(path), os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


@contextlib.contextmanager
def _open_in_place(path: Path) -> Iterator[BinaryIO]:
    fd = named_descriptor(path)
    try:
        f = os.fdopen(os.dup(fd), "wb") if fd is not None else open(path, "wb")  # noqa: SIM115
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    with _write_errors(path), f:
        yield f


WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS, errno.EBADF)


@contextlib.contextmanager
def _write_errors(path: Path) -> Iterator[None]:
    """A full disk (or device) is a one-line failure (exit 1), not an internal error."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in WRITE_ERRORS or isinstance(exc, BrokenPipeError):
            raise
        raise RunFailure(f"cannot write {path}: {exc.strerror}") from None


def remove_stale_temporaries(directory: Path) -> None:
    """Remove temporaries (files or staging directories) this module named, in
    `directory`, whose process is gone: what a SIGKILL leaves behind."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        match = TEMP_NAME.match(entry.name)
        if match is None or _alive(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            if not entry.is_dir(follow_symlinks=False):
                os.unlink(entry.path)
            elif all(_ours(name) for name in os.listdir(entry.path)):
                shutil.rmtree(entry.path)  # a staging directory; never one holding more


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process (or a pid we cannot ask about): leave it
    return True


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_open(path) as f:
        f.write(data)


def atomic_write_with(path: Path, writer: Callable[[BinaryIO], None]) -> None:
    with atomic_open(path) as f:
        writer(f)


def temporary_sibling(path: Path, kind: str = "tmp") -> Path:
    """A fresh directory beside `path`, named like this module's temporaries."""
    path = Path(path)
    made = tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", suffix=f".{kind}",
                            dir=path.parent)
    os.chmod(made, 0o777 & ~_umask())
    return Path(made)


RUN_FILES = frozenset({"model.pt", "settings.json", "metrics.csv", "loss.png"})


def _ours(name: str) -> bool:
    """A name this tool writes in a run directory (a run file, the lock, a temporary)."""
    return name in RUN_FILES or name == LOCK_NAME or TEMP_NAME.match(name) is not None


def swap_directories(new: Path, target: Path) -> None:
    """Put run directory `new` in the place of `target`; the old run's files are removed,
    anything else the old directory held (a user's notes) is moved into the new one.

    On Linux the two are exchanged in one step (renameat2 RENAME_EXCHANGE); elsewhere the
    old directory is first renamed aside, so a crash in between leaves it whole under a
    temporary name (and `new` whole under its own). Signals wait until it is done."""
    blocked = _block_signals()
    try:
        _swap(new, target)
    finally:
        _restore_signals(blocked)


def _block_signals():
    import signal

    wanted = {getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)}
    try:
        return signal.pthread_sigmask(signal.SIG_BLOCK, wanted)
    except (AttributeError, OSError, ValueError):
        return None


def _restore_signals(previous) -> None:
    import signal

    if previous is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # a pending signal fires now


def _swap(new: Path, target: Path) -> None:
    if not _exchange(new, target):
        aside = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.old"
        os.rename(target, aside)
        os.rename(new, target)
        new = aside
    for entry in os.scandir(new):  # `new` now holds the old run
        if not _ours(entry.name):
            os.rename(entry.path, target / entry.name)
    shutil.rmtree(new, ignore_errors=True)
    _fsync_dir(target.parent)


def _exchange(a: Path, b: Path) -> bool:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False  # a file system or kernel without it
    raise OSError(code, os.strerror(code), str(b))


LOCK_NAME = ".lock"


class RunLock:
    """An exclusive OS lock (flock) on `directory/.lock` while a run is trained: a second
    process is refused at once, and the lock dies with its process (a SIGKILL never leaves
    it stuck). The lock file is removed on release."""

    def __init__(self, directory: Path):
        self.path = Path(directory) / LOCK_NAME
        self.fd: int | None = None

    def acquire(self) -> RunLock:
        import fcntl

        for _ in range(10):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise _cannot_write(self.path, exc) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
                    raise BadInput(
                        f"run directory {self.path.parent} is in use by another alternators "
                        "process (training or resuming it); wait for it or choose another --out"
                    ) from None
                raise _cannot_write(self.path, exc) from None
            # The holder before us may have removed the file after we opened it: then we
            # hold a lock on a file nobody else will open; open the new one instead.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                return self
            os.close(fd)
        raise BadInput(f"cannot lock run directory {self.path.parent}: it keeps changing")

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):  # while still holding it: see acquire
            if os.path.samestat(os.fstat(self.fd), os.stat(self.path)):
                os.unlink(self.path)  # (after a swap of directories the path is another's)
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _cannot_write(path: Path, exc: OSError) -> BadInput:
    return BadInput(f"cannot write {path}: {exc.strerror or exc}")


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
