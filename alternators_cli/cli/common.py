"""What every command shares: one-line errors and exit codes, signals, the data output,
the memory refusal, device parsing, quiet mode, and the option aliases."""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import signal
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from alternators_cli.cli.streams import StdoutClosed, is_stdout, silence_stdout, stdout_bytes
from alternators_cli.errors import BadInput, Interrupted, RunFailure

try:  # recent typer raises the exceptions of its own vendored click
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
except ImportError:  # pragma: no cover - older typer on the real click
    from click.exceptions import ClickException, NoArgsIsHelpError

err = Console(stderr=True, highlight=False, soft_wrap=True)


class OneLineErrors(typer.core.TyperGroup):
    """Usage errors (bad option values, unknown options, missing arguments) as one line on
    stderr, `error: ... (see 'alternators CMD --help')`, exit 2; not a boxed help screen."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             **extra):
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                              standalone_mode=False, **extra)
        except NoArgsIsHelpError as exc:
            print(exc.format_message(), file=sys.stderr)
            code = exc.exit_code
        except ClickException as exc:
            message = " ".join(exc.format_message().split())
            ctx = getattr(exc, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            print(f"error: {message}{hint}", file=sys.stderr)
            code = exc.exit_code
        except typer.Abort:
            print("aborted", file=sys.stderr)
            code = 1
        except StdoutClosed as exc:  # --help or --version with stdout closed
            print(f"error: {exc.strerror}", file=sys.stderr)
            code = 1
        else:
            code = rv if isinstance(rv, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


# ---- messages: informational lines (silenced by --quiet) and warnings ----------------

_quiet = False


def say(message: str) -> None:
    """An informational line on stderr; --quiet silences it."""
    if not _quiet:
        print(message, file=sys.stderr, flush=True)


def warn(message: str) -> None:
    """A line on stderr that --quiet keeps (it tells why a result is missing or partial)."""
    print(message, file=sys.stderr, flush=True)


def is_quiet() -> bool:
    return _quiet


# ---- errors and exit codes -----------------------------------------------------------


def fail(message: str, code: int) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", markup=True) if err.is_terminal else print(
        f"error: {message}", file=sys.stderr
    )
    return typer.Exit(code)


def handle_errors(fn):
    """Turn our exceptions into one line on stderr and the contract's exit codes; take the
    command's --quiet (if it has one) for its messages."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        global _quiet
        _quiet = bool(kwargs.get("quiet", False))
        try:
            with signals_interrupt():
                return fn(*args, **kwargs)
        except BadInput as exc:
            raise fail(str(exc), 2) from None
        except RunFailure as exc:
            raise fail(str(exc), 1) from None
        except BrokenPipeError:
            silence_stdout()
            raise typer.Exit(0) from None
        except KeyboardInterrupt as exc:
            print("interrupted", file=sys.stderr)
            raise typer.Exit(128 + getattr(exc, "signum", signal.SIGINT)) from None
        except (typer.Exit, typer.Abort):
            raise
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                name = f" {exc.filename}" if exc.filename else ""
                raise fail(f"file name too long for this system:{name}"[:300], 2) from None
            if isinstance(exc, StdoutClosed):
                raise fail(exc.strerror, 1) from None
            return _internal_error(exc)
        except Exception as exc:  # the last line of defence: no traceback for users
            return _internal_error(exc)
        finally:
            _quiet = False

    return wrapper


def _internal_error(exc: Exception):
    if os.environ.get("ALTERNATORS_DEBUG"):
        raise exc
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    raise fail(
        f"internal error ({type(exc).__name__}: {detail}); "
        "set ALTERNATORS_DEBUG=1 for a traceback",
        1,
    ) from None


INTERRUPTING = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def interrupting_signals() -> tuple[int, ...]:
    """The signals a command catches: INTERRUPTING, less SIGINT and SIGHUP where the process
    started with them ignored (`nohup`, a background job): what the caller asked for stays."""
    return tuple(sig for sig in INTERRUPTING
                 if sig == getattr(signal, "SIGTERM", None)
                 or signal.getsignal(sig) is not signal.SIG_IGN)


_received: list[int] = []  # signals the running command has been sent


def raise_if_interrupted() -> None:
    """Raise Interrupted for a signal already received. The handler raises it, but Python
    runs a handler wherever the main thread is, and inside a finaliser (a `__del__`) what
    it raises is printed and dropped: a long loop checks here too, once per chunk."""
    if _received:
        raise Interrupted(_received[-1])


@contextlib.contextmanager
def signals_interrupt():
    """While a command runs, SIGTERM and SIGHUP interrupt it like Ctrl-C does (raising
    Interrupted, so that temporary files are removed on the way out), and the exit status
    is 128 + the number of the last signal received."""

    def handle(signum, frame):
        _received.append(signum)
        raise Interrupted(signum)

    _received.clear()
    previous = {}
    for sig in interrupting_signals():
        with contextlib.suppress(ValueError, OSError):  # outside the main thread: none
            previous[sig] = signal.signal(sig, handle)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# ---- the data output ------------------------------------------------------------------


class Format(StrEnum):
    csv = "csv"
    npy = "npy"


def output_format(fmt: Format | None, output: str | None, default: Format = Format.csv,
                  ) -> Format:
    """The format of a data output: -o's extension (.csv, .npy) when it has one of them,
    else --format, else `default`. An extension and a --format that disagree are refused."""
    suffix = "" if is_stdout(output) else Path(output).suffix.lower()
    by_name = {f".{f.value}": f for f in Format}.get(suffix)
    if by_name is not None and fmt is not None and fmt is not by_name:
        raise BadInput(f"--format {fmt.value} but -o {output} names a .{by_name.value} file: "
                       "give one of them")
    return by_name or fmt or default


def open_output(path: str | None, binary_format: bool):
    """A context manager for the command's data output: stdout; a regular file, written
    atomically; or a device, FIFO or /dev/fd/N, written in place (files.atomic_open)."""
    from alternators_cli.files import atomic_open, check_writable_target

    if is_stdout(path):
        if binary_format and sys.stdout.isatty():
            raise BadInput("refusing to write binary .npy to a terminal: use -o FILE or a pipe")

        @contextlib.contextmanager
        def to_stdout():
            out = stdout_bytes()
            try:
                yield out
                out.flush()
            except OSError as exc:
                if isinstance(exc, BrokenPipeError | StdoutClosed) or exc.errno not in (
                    errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG, errno.EBADF
                ):
                    raise
                raise RunFailure(f"cannot write to standard output: {exc.strerror}") from None

        return to_stdout()
    target = Path(path)
    check_writable_target(target)
    return atomic_open(target)


def finite_or_null(obj):
    """JSON has no NaN or Infinity: a ratio over a zero floor becomes null."""
    import math

    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [finite_or_null(v) for v in obj]
    return obj


def print_json(obj, indent: int | None = 2) -> None:
    print(json.dumps(finite_or_null(obj), indent=indent, allow_nan=False))


# ---- memory, devices, checkpoints -----------------------------------------------------


def physical_memory() -> int:
    """Bytes of memory this machine has (16 GiB where the system does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 16 << 30


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:,.1f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:,.0f} MiB"


def refuse_above_memory(nbytes: float, what: str, hint: str) -> None:
    """Refuse, before allocating anything, a request that would need more memory than
    the machine has (the figure is an estimate of what the command holds at once)."""
    limit = physical_memory()
    if nbytes > limit:
        raise BadInput(f"{what} would need about {_gib(nbytes)} of memory, more than this "
                       f"machine's {_gib(limit)}: {hint}")


def device_for(spec: str):
    import re

    from alternators_cli.engine import resolve_device
    from alternators_cli.settings import DEVICE_PATTERN

    if not re.match(DEVICE_PATTERN, spec):
        raise BadInput(f"--device: expected auto, cpu, cuda, cuda:N or mps (got {spec!r})")
    return resolve_device(spec)


def load_checkpoint(spec: str, device: str = "cpu", kind: str | None = "distribution"):
    from alternators_cli import checkpoint

    return checkpoint.load(spec, device_for(device), kind=kind)


# ---- option aliases -------------------------------------------------------------------

CheckpointOpt = Annotated[
    str,
    typer.Option(
        "--checkpoint", "-c",
        help="Checkpoint file (a run's model.pt) or pretrained:NAME.",
        show_default=False,
    ),
]
SeedOpt = Annotated[int, typer.Option("--seed", min=0, help="Random seed.")]
CountOpt = Annotated[int, typer.Option("-n", "--num", min=1, help="Number of points.")]
FormatOpt = Annotated[
    Format | None,
    typer.Option("--format", help="Output format.", show_default="-o's extension, else csv"),
]
OutputOpt = Annotated[
    str | None,
    typer.Option("-o", "--output", help="Output file (.csv or .npy sets the format), or - for "
                                        "stdout."),
]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress or informational lines on stderr "
                                             "(errors and warnings still print).")
]
QuietLongOpt = Annotated[  # impute and forecast: their -q is --quantiles
    bool, typer.Option("--quiet", help="No informational lines on stderr (errors and "
                                       "warnings still print).")
]
