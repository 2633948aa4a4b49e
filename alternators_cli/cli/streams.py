"""The standard streams as the command line finds them: a stream the caller closed
(`>&-`), a reader that went away (`| head`). Imports nothing heavy: `main` runs it first."""

from __future__ import annotations

import contextlib
import errno
import os
import sys


class StdoutClosed(OSError):
    """Standard output was closed when the command started (e.g. `>&-`)."""


class ClosedStream:
    """Stands in for a closed sys.stdout: any write is a clean error, not a silent no-op."""

    encoding = "utf-8"

    def __init__(self, name: str):
        self.name = name

    @property
    def buffer(self):
        return self

    def write(self, data):
        raise StdoutClosed(errno.EBADF, f"cannot write to {self.name}: it is closed")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise StdoutClosed(errno.EBADF, f"cannot write to {self.name}: it is closed")


def guard_standard_streams() -> None:
    """A standard stream closed by the caller (`>&-`): keep its descriptor taken (by
    /dev/null), so that no file this process opens lands on it, and make writing to a
    closed stdout a clean error rather than a silent no-op."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            with contextlib.suppress(OSError):
                devnull = os.open(os.devnull, os.O_RDWR)
                if devnull != fd:
                    os.dup2(devnull, fd)
                    os.close(devnull)
            if fd == 0:  # reads as empty input
                with contextlib.suppress(OSError):
                    sys.stdin = open(0, closefd=False)  # noqa: SIM115
            elif fd == 1:
                sys.stdout = ClosedStream("standard output")
            elif fd == 2:  # messages go nowhere, but never to stdout (print's fallback)
                with contextlib.suppress(OSError):
                    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115


def silence_stdout() -> None:
    """The reader went away (e.g. `| head`): send the rest to /dev/null so that Python's
    final flush at exit does not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def stdout_bytes():
    return sys.stdout.buffer if hasattr(sys.stdout, "buffer") else sys.stdout


def is_stdout(path: str | None) -> bool:
    return path is None or path == "-"


def version_line() -> str:
    """`alternators X (torch Y)`, from the installed distributions: torch is not imported."""
    from importlib.metadata import PackageNotFoundError, version

    from alternators_cli.version import __version__

    try:
        torch_version = version("torch")
    except PackageNotFoundError:  # pragma: no cover - torch vendored some other way
        import torch

        torch_version = torch.__version__
    return f"alternators {__version__} (torch {torch_version})"
