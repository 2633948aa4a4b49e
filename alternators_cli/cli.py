"""The `alternators` command line: parse options, build validated settings, call the
engine, print. Data goes to stdout, logs and progress to stderr. Exit status: 0 success,
2 bad usage or bad input, 1 other failure, 130/143 interrupted (after saving)."""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import signal
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table as RichTable

from alternators_cli import __version__
from alternators_cli.errors import BadInput, Interrupted, RunFailure

try:  # recent typer raises the exceptions of its own vendored click
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
except ImportError:  # pragma: no cover - older typer on the real click
    from click.exceptions import ClickException, NoArgsIsHelpError


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


app = typer.Typer(
    name="alternators",
    cls=OneLineErrors,
    help=(
        "Train, sample, evaluate and animate alternators: an OPN maps a latent to an "
        "observation, an STN maps the observation back to the next latent, over a short "
        "cycle of steps.\n\n"
        "Quick start:  alternators train pinwheel && "
        "alternators sample --checkpoint runs/pinwheel/model.pt -n 1000 > samples.csv"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

err = Console(stderr=True, highlight=False, soft_wrap=True)


class Format(StrEnum):
    csv = "csv"
    npy = "npy"


class PrecisionChoice(StrEnum):
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


class KindChoice(StrEnum):
    distribution = "distribution"
    sequence = "sequence"


class TransformChoice(StrEnum):
    none = "none"
    log = "log"


class ObjectiveChoice(StrEnum):
    energy = "energy"
    mse = "mse"


class ActivationChoice(StrEnum):
    relu = "relu"
    silu = "silu"


class NormalizeChoice(StrEnum):
    auto = "auto"
    column = "column"
    shared = "shared"


# ---- errors and exit codes -----------------------------------------------------------


def fail(message: str, code: int) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", markup=True) if err.is_terminal else print(
        f"error: {message}", file=sys.stderr
    )
    return typer.Exit(code)


def handle_errors(fn):
    """Turn our exceptions into one line on stderr and the contract's exit codes."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with signals_interrupt():
                return fn(*args, **kwargs)
        except BadInput as exc:
            raise fail(str(exc), 2) from None
        except RunFailure as exc:
            raise fail(str(exc), 1) from None
        except BrokenPipeError:
            _silence_stdout()
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


@contextlib.contextmanager
def signals_interrupt():
    """While a command runs, SIGTERM and SIGHUP interrupt it like Ctrl-C does (raising
    Interrupted, so that temporary files are removed on the way out), and the exit status
    is 128 + the number of the last signal received."""

    def handle(signum, frame):
        raise Interrupted(signum)

    previous = {}
    for sig in INTERRUPTING:
        with contextlib.suppress(ValueError, OSError):  # outside the main thread: none
            previous[sig] = signal.signal(sig, handle)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class StdoutClosed(OSError):
    """Standard output was closed when the command started (e.g. `>&-`)."""


class _ClosedStream:
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




def _silence_stdout() -> None:
    # The reader went away (e.g. `| head`): send the rest to /dev/null so that Python's
    # final flush at exit does not raise again.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def version_callback(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:  # the installed distribution's version: no need to import torch itself
            torch_version = version("torch")
        except PackageNotFoundError:  # pragma: no cover - torch vendored some other way
            import torch

            torch_version = torch.__version__
        print(f"alternators {__version__} (torch {torch_version})")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=version_callback, is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    """Alternators: few-step generative models with two networks taking turns."""


# ---- shared helpers -------------------------------------------------------------------


def stdout_bytes():
    return sys.stdout.buffer if hasattr(sys.stdout, "buffer") else sys.stdout


def is_stdout(path: str | None) -> bool:
    return path is None or path == "-"


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
FormatOpt = Annotated[Format, typer.Option("--format", help="Output format.")]
OutputOpt = Annotated[
    str | None, typer.Option("-o", "--output", help="Output file, or - for stdout.")
]
DeviceOpt = Annotated[
    str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")
]


# ---- datasets and data ----------------------------------------------------------------


@app.command()
@handle_errors
def datasets(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the built-in data sets.

    Example: alternators datasets --json
    """
    from alternators_cli.checkpoint import pretrained_names
    from alternators_cli.data import BUILTINS

    pretrained = set(pretrained_names())
    rows = [
        {"name": s.name, "kind": s.kind, "dim": s.dim, "description": s.description,
         "pretrained": s.name in pretrained}
        for s in BUILTINS.values()
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = RichTable(title="built-in data sets")
    for col in ("name", "kind", "dim", "description", "pretrained"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], r["kind"], str(r["dim"]), r["description"],
                      "yes" if r["pretrained"] else "")
    Console().print(table)


@app.command()
@handle_errors
def data(
    name: Annotated[str, typer.Argument(help="A built-in data set (see `alternators datasets`).")],
    n: CountOpt = 10_000,
    seed: SeedOpt = 0,
    fmt: FormatOpt = Format.csv,
    output: OutputOpt = None,
) -> None:
    """Draw points from a built-in data set.

    Example: alternators data pinwheel -n 5000 --seed 1 -o pinwheel.csv
    """
    from alternators_cli import output as enc
    from alternators_cli.data import default_columns, draw_builtin

    refuse_above_memory(32.0 * n * 3, f"data -n {n}", "draw fewer points (-n)")
    points = draw_builtin(name, n, seed)
    with open_output(output, fmt is Format.npy) as out:
        if fmt is Format.npy:
            out.write(enc.npy_bytes(points))
        else:
            out.write(enc.csv_header(default_columns(points.shape[1])))
            out.write(enc.csv_rows(points))


# ---- train ----------------------------------------------------------------------------


def data_name(spec: str) -> str:
    """What a run on `spec` is called (and its default run directory): a built-in's own
    name, a file's stem, or stdin. A name that is neither a built-in nor a file is refused."""
    from alternators_cli.data import BUILTINS, looks_like_file, unknown_dataset_message

    if spec in BUILTINS:
        return spec
    if not looks_like_file(spec) and not Path(spec).exists():
        raise BadInput(unknown_dataset_message(spec))
    return "stdin" if spec == "-" else Path(spec).stem


def resolve_training_data(spec: str, settings) -> tuple[Any, Any]:
    """(TrainingData, held-out array or None) for a built-in name, a file, or `-`."""
    import numpy as np

    from alternators_cli.data import (
        BUILTINS,
        RowSubset,
        check_distribution_table,
        check_training_columns,
        default_columns,
        open_npy_rows,
        read_table,
    )
    from alternators_cli.training_data import (
        TrainingData,
        data_fingerprint,
        split_indices,
        split_table,
    )

    if settings.kind == "sequence":
        return resolve_sequence_data(spec, settings)
    if spec in BUILTINS:
        info = BUILTINS[spec]
        return TrainingData(spec, info.dim, [f"x{i}" for i in range(info.dim)], True), None
    name = data_name(spec)
    path = Path(spec)
    if spec != "-" and path.suffix.lower() == ".npy" and path.is_file():
        # Memory-mapped: only the held-out rows are read into memory up front.
        values = open_npy_rows(path)
        check_training_columns(values, default_columns(values.shape[1]), spec)
        train_rows, heldout_rows = split_indices(len(values), settings.heldout, settings.seed)
        heldout = np.asarray(values[np.sort(heldout_rows)], dtype=np.float32)
        data = TrainingData(name, values.shape[1], default_columns(values.shape[1]), False,
                            RowSubset(values, train_rows), heldout,
                            fingerprint=data_fingerprint(values))
        return data, heldout if len(heldout) else None
    table = read_table(spec, sys.stdin.buffer if spec == "-" else None)
    values = check_distribution_table(table, min_rows=2)
    check_training_columns(values, table.columns, table.source)
    train_part, heldout = split_table(values, settings.heldout, settings.seed)
    return (
        TrainingData(name, values.shape[1], table.columns, False, train_part, heldout,
                     fingerprint=data_fingerprint(values)),
        heldout if len(heldout) else None,
    )


def resolve_sequence_data(spec: str, settings) -> tuple[Any, Any]:
    """Sequences: (TrainingData of (N, T, D) series, held-out tails or None). A built-in
    is drawn once per run; its evaluation draws fresh trajectories instead of a tail."""
    from alternators_cli.cli_sequences import training_series
    from alternators_cli.data import BUILTINS, default_columns
    from alternators_cli.training_data import (
        LORENZ_TRAIN_LENGTH,
        TrainingData,
        builtin_sequences,
        data_fingerprint,
        split_series,
    )

    if spec in BUILTINS:
        if settings.window > LORENZ_TRAIN_LENGTH:
            raise BadInput(f"--window {settings.window} is longer than the built-in "
                           f"series ({LORENZ_TRAIN_LENGTH} steps)")
        series = builtin_sequences(spec, settings.seed)
        dim = series.shape[2]
        return TrainingData(spec, dim, default_columns(dim), True, series, kind="sequence"), None
    name = data_name(spec)
    values, columns, notes = training_series(spec, settings)  # may shorten --window
    train_part, heldout = split_series(values, settings.heldout, settings.window)
    data = TrainingData(name, values.shape[2], columns, False, train_part, heldout,
                        kind="sequence", notes=notes,
                        fingerprint=data_fingerprint(values))
    return data, heldout if heldout.shape[1] else None


def choose_kind(data_spec: str, flags: dict) -> None:
    """A built-in knows its kind: fill in --kind, or refuse a contradicting one."""
    from alternators_cli.data import BUILTINS

    if data_spec not in BUILTINS:
        return
    own = BUILTINS[data_spec].kind
    if flags.get("kind") not in (None, own):
        raise BadInput(f"--kind {flags['kind']}: {data_spec} is a {own} data set")
    flags["kind"] = own


class Progress:
    """Rich progress bar on a terminal, plain periodic lines otherwise (both on stderr)."""

    def __init__(self, epochs: int, start_epoch: int):
        self.epochs = epochs
        self.start = time.perf_counter()
        self.start_epoch = start_epoch
        self.last_print = 0.0
        self.bar = None
        if err.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self.bar = RichProgress(
                TextColumn("epoch"), MofNCompleteColumn(), BarColumn(),
                TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[speed]}"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=err, transient=False,
            )
            self.task = self.bar.add_task(
                "train", total=epochs, completed=start_epoch, loss="-", speed=""
            )
            self.bar.start()

    def __call__(self, report) -> None:
        speed = f"{report.points_per_second / 1e3:.0f}k pt·steps/s"
        if self.bar is not None:
            self.bar.update(self.task, completed=report.epoch, loss=f"{report.loss:.4f}",
                            speed=speed)
            return
        now = time.perf_counter()
        every = max(1, self.epochs // 20)
        if report.epoch % every == 0 or report.epoch == self.epochs or now - self.last_print > 30:
            self.last_print = now
            elapsed = now - self.start
            done = report.epoch - self.start_epoch
            eta = elapsed / max(done, 1) * (self.epochs - report.epoch)
            print(
                f"epoch {report.epoch}/{self.epochs}  loss {report.loss:.4f}  {speed}  "
                f"elapsed {elapsed:.0f}s  eta {eta:.0f}s",
                file=sys.stderr, flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


class StopSignals:
    """Ctrl-C / SIGTERM / SIGHUP ask training to stop after the current epoch, then save."""

    def __init__(self):
        self.received: int | None = None
        self.previous: dict[int, Any] = {}

    def __enter__(self):
        for sig in INTERRUPTING:
            # Not possible outside the main thread (e.g. some test runners): then no handler.
            with contextlib.suppress(ValueError):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.received is not None:  # a second signal: stop now, exit by this one
            raise Interrupted(signum)
        self.received = signum
        print("\nstopping after this epoch to save a checkpoint (again to abort)...",
              file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        return False


def run_dir_is_busy(out: Path) -> bool:
    """True if `out` holds anything but a lock file and this tool's temporaries."""
    from alternators_cli.files import LOCK_NAME, TEMP_NAME

    if not out.exists():
        return False
    if not out.is_dir():
        return True
    return any(p.name != LOCK_NAME and not TEMP_NAME.match(p.name) for p in out.iterdir())


@app.command()
@handle_errors
def train(
    data_spec: Annotated[
        str,
        typer.Argument(
            metavar="DATA",
            help="A built-in data set name, a .csv / .npy file, or - for CSV on stdin.",
        ),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="Run directory [default: runs/<data name>].")
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(help="Training epochs.", show_default="400; sequences 30")
    ] = None,
    steps: Annotated[
        int | None, typer.Option(help="Steps T of the cycle.", show_default="15")
    ] = None,
    latent_dim: Annotated[
        int | None, typer.Option(help="Latent size Dz.", show_default="20; sequences 16")
    ] = None,
    hidden: Annotated[
        int | None,
        typer.Option(help="Hidden width of OPN and STN.", show_default="64; sequences 128"),
    ] = None,
    layers: Annotated[
        int | None, typer.Option(help="Hidden layers per network.", show_default="2")
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(help="Batch size (sequences: windows).", show_default="500; sequences 128"),
    ] = None,
    epoch_size: Annotated[
        int | None,
        typer.Option(help="Points per epoch for built-in sets (fresh each epoch).",
                     show_default="10000; sequences 2560"),
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(help="Peak learning rate (Adam).", show_default="0.0025; sequences 0.003"),
    ] = None,
    noise_max: Annotated[
        float | None,
        typer.Option(help="sigma_x at the first step.", show_default="0.9; sequences 0.05"),
    ] = None,
    noise_min: Annotated[
        float | None,
        typer.Option(help="sigma_x at the last step.", show_default="0.01; sequences 0.05"),
    ] = None,
    schedule_rho: Annotated[
        float | None,
        typer.Option(help="Spacing of sigma_x between the two: 1 = linear, larger = more "
                     "steps at low noise (EDM's rho).", min=1, max=100, show_default="1.0"),
    ] = None,
    alpha: Annotated[
        float | None,
        typer.Option(help="STN mixing weight alpha.", show_default="0.79; sequences 0.5"),
    ] = None,
    sigma_z_scale: Annotated[
        float | None,
        typer.Option(help="sigma_z = sigma_z_scale * sigma_x.", show_default="0.5; sequences 2.0"),
    ] = None,
    objective: Annotated[
        ObjectiveChoice | None,
        typer.Option(help="OPN objective: energy score or mse.", show_default="energy"),
    ] = None,
    scored_steps: Annotated[
        int | None,
        typer.Option(help="Random steps per point at which the OPN is scored each batch "
                     "(0, or T and more: all T).", min=0, max=1000, show_default="0"),
    ] = None,
    fourier_features: Annotated[
        int | None,
        typer.Option(help="Random Fourier features of x the STN also reads (0 = off).",
                     show_default="16; sequences 0"),
    ] = None,
    fourier_scale: Annotated[
        float | None,
        typer.Option(help="Frequency scale of those features (normalised units).",
                     show_default="4.0"),
    ] = None,
    opn_fourier_features: Annotated[
        int | None,
        typer.Option(help="Random Fourier features of z the OPN also reads (0 = off).",
                     show_default="32; sequences 0"),
    ] = None,
    opn_fourier_scale: Annotated[
        float | None,
        typer.Option(help="Frequency scale of the OPN's features.", show_default="1.0"),
    ] = None,
    activation: Annotated[
        ActivationChoice | None,
        typer.Option(help="Nonlinearity of the hidden layers (distributions).",
                     show_default="relu; sequences silu"),
    ] = None,
    linear_skip: Annotated[
        bool | None,
        typer.Option("--linear-skip/--no-linear-skip",
                     help="Linear paths from each network's raw input to its output "
                          "(distributions).", show_default="True; sequences False"),
    ] = None,
    precision: Annotated[
        PrecisionChoice | None,
        typer.Option(help="fp32, or bf16 / fp16 autocast (fp16 needs CUDA).", show_default="fp32"),
    ] = None,
    ema: Annotated[
        float | None,
        typer.Option(help="EMA decay of the weights (0 = off).", show_default="0.999"),
    ] = None,
    heldout: Annotated[
        float | None,
        typer.Option(help="Fraction of a data file held out for evaluation, at least "
                          "min(50, rows/3) rows (sequences: the last part of every series).",
                     show_default="0.2; sequences 0.1"),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(help="CPU threads for training; 0 = by the work's size (one thread for "
                          "sequences and batches of at most 128 rows).", show_default="0"),
    ] = None,
    normalize: Annotated[
        NormalizeChoice | None,
        typer.Option(help="Scaling before training, undone on output: column (each column its "
                          "own scale: tables in mixed units), shared (one scale: keeps the "
                          "aspect ratio), auto (column for files and sequences, shared for "
                          "the built-in 2-D sets).", show_default="auto"),
    ] = None,
    kind: Annotated[
        KindChoice | None,
        typer.Option(help="distribution (rows are points) or sequence (rows are time) for a "
                          "file; built-ins know their kind.", show_default="distribution"),
    ] = None,
    window: Annotated[
        int | None,
        typer.Option(help="Sequences: time steps per training window.", show_default="64"),
    ] = None,
    season: Annotated[
        int | None,
        typer.Option(help="Sequences: the season in steps, e.g. 12 for monthly data; the "
                          "model reads the value one season back.", show_default="None"),
    ] = None,
    transform: Annotated[
        TransformChoice | None,
        typer.Option(help="Sequences: log models a positive series on a log scale (undone "
                          "on output).", show_default="none"),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.", show_default="0")] = None,
    device: Annotated[
        str | None, typer.Option(help="auto, cpu, cuda, cuda:N or mps.", show_default="auto")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML file of settings (flags win).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the run in a non-empty run directory "
                           "(built beside it, swapped in once saved; other files are kept).")
    ] = False,
    checkpoint_every: Annotated[
        int, typer.Option(min=0, help="Save a checkpoint every N epochs (0 = only at the end).")
    ] = 10,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue the run in --out from its checkpoint (same data; --epochs may grow).",
        ),
    ] = False,
    force_resume: Annotated[
        bool,
        typer.Option(
            "--force-resume",
            help="Like --resume, but also when the data differs from the run's (its "
                 "fingerprint, rows and a hash of them, is kept in the checkpoint).",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the final evaluation as JSON.")
    ] = False,
) -> None:
    """Train an alternator on a distribution or on time series and write a run directory.

    Writes model.pt, settings.json, metrics.csv and loss.png into --out, then prints the
    evaluation of a fresh sample against held-out data.

    Example: alternators train pinwheel --epochs 50 --out runs/pw

    Example: alternators train series.csv --kind sequence --window 64
    """
    from alternators_cli.settings import load_train_settings

    flags = {
        "epochs": epochs, "steps": steps, "latent_dim": latent_dim, "hidden": hidden,
        "layers": layers, "batch_size": batch_size, "epoch_size": epoch_size, "lr": lr,
        "noise_max": noise_max, "noise_min": noise_min,
        "schedule_rho": schedule_rho, "alpha": alpha,
        "sigma_z_scale": sigma_z_scale, "objective": objective.value if objective else None,
        "scored_steps": scored_steps,
        "fourier_features": fourier_features, "fourier_scale": fourier_scale,
        "opn_fourier_features": opn_fourier_features, "opn_fourier_scale": opn_fourier_scale,
        "activation": activation.value if activation else None,
        "linear_skip": linear_skip,
        "ema": ema, "seed": seed, "device": device,
        "precision": precision.value if precision else None, "heldout": heldout,
        "normalize": normalize.value if normalize else None, "threads": threads,
        "kind": kind.value if kind else None, "window": window, "season": season,
        "transform": transform.value if transform else None,
    }
    choose_kind(data_spec, flags)
    resume = resume or force_resume
    if resume and overwrite:
        raise BadInput("--resume continues a run and --overwrite starts afresh: give only one")
    settings = load_train_settings(flags, config)
    name = data_name(data_spec)
    run_dir = resolve_run_dir(out, name, data_spec)
    from alternators_cli import engine
    from alternators_cli.files import RunLock, remove_stale_temporaries, temporary_sibling

    rank, world_size, local_rank = engine.distributed_env()
    if run_dir.exists() and not run_dir.is_dir():
        raise BadInput(f"--out {run_dir} is a file, not a directory")
    parent = run_dir.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise BadInput(f"cannot create run directory {run_dir}: {parent} is not writable")
    made: list[Path] = []  # directories this run created, to remove again after a failure
    locks: list = []
    staging = None
    finished = False
    try:
        if rank == 0:  # one process judges and writes the run directory: hold it meanwhile
            make_dirs(run_dir, made)
            locks.append(RunLock(run_dir).acquire())
            remove_stale_temporaries(run_dir.parent)  # e.g. a staging dir a SIGKILL left
        state = None
        if resume:  # the data is read once, as the checkpoint's settings (its kind) say
            settings, state, fingerprint = resume_settings(run_dir, flags, name, settings,
                                                           config)
        training_data, heldout = resolve_training_data(data_spec, settings)
        if resume:
            check_same_data(run_dir, fingerprint, training_data.fingerprint, force_resume)
        busy = not resume and run_dir_is_busy(run_dir)
        if busy and not overwrite:
            raise BadInput(
                f"run directory {run_dir} is not empty: pass --overwrite, or choose another --out"
            )
        if busy and holds_cwd(run_dir):
            raise BadInput(f"--overwrite would replace {run_dir}, which holds the current "
                           "directory: choose another --out")
        if busy and os.path.ismount(run_dir):
            raise BadInput(f"--overwrite cannot replace {run_dir}: it is a mount point "
                           "(choose a directory inside it as --out)")
        torch_device = device_for(settings.device)
        if settings.precision == "fp16" and torch_device.type != "cuda":
            raise BadInput(f"--precision fp16 needs a CUDA device (got {torch_device}); try bf16")
        write_dir = run_dir
        if busy and rank == 0:
            # --overwrite: the new run is built beside the old one and replaces it whole at
            # the end; until then (and after any failure) the old run is untouched.
            staging = temporary_sibling(run_dir)
            locks.append(RunLock(staging).acquire())
            write_dir = staging
        if world_size > 1:  # under torchrun; every check above ran in every process first
            torch_device = engine.init_distributed(torch_device, local_rank)

        def commit() -> None:
            if staging is not None:
                from alternators_cli.files import swap_directories

                swap_directories(staging, run_dir)
                locks[-1].path = run_dir / locks[-1].path.name  # the new run's lock file

        run_training(
            settings, training_data, heldout, write_dir, torch_device, checkpoint_every,
            as_json, state, rank, world_size, commit=commit if staging else None,
            shown_dir=run_dir,
        )
        finished = True
    except BaseException:
        if staging is not None and staging.exists():
            import shutil

            shutil.rmtree(staging, ignore_errors=True)
        for lock in reversed(locks):
            lock.release()
        locks.clear()
        # A run that failed before saving anything leaves no empty directory behind.
        for directory in reversed(made):
            with contextlib.suppress(OSError):
                directory.rmdir()  # only if empty
        raise
    finally:
        for lock in reversed(locks):
            lock.release()
        engine.finish_distributed(wait_for_all=finished)


def make_dirs(path: Path, made: list[Path]) -> None:
    """mkdir -p, noting in `made` each directory it creates (outermost first)."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        try:
            directory.mkdir()
        except FileExistsError:
            continue  # made meanwhile by another process: not ours to remove
        except OSError as exc:
            raise BadInput(f"cannot create run directory {missing[0]}: {exc.strerror}") from None
        made.append(directory)


RUN_NAME_REFUSED = ("", ".", "..")


def resolve_run_dir(out: Path | None, name: str, data_spec: str) -> Path:
    """The run directory as the system will see it: absolute, `..` and symlinks resolved
    (so `nope/../runs/done` is judged as `runs/done`, and a link as its target)."""
    if out is None:
        if name in RUN_NAME_REFUSED or name.startswith("~") or os.sep in name:
            raise BadInput(f"cannot name a run directory after {data_spec!r} (its name is "
                           f"{name!r}): give --out")
        out = Path("runs") / name
    return Path(os.path.realpath(out))


def holds_cwd(path: Path) -> bool:
    """True if `path` is the current directory or one above it."""
    try:
        cwd = Path.cwd().resolve()
    except OSError:
        return False
    return cwd == path or path in cwd.parents


def check_same_data(run_dir: Path, saved: dict | None, now: dict | None, force: bool) -> None:
    """Refuse to resume on data other than the run's (unless --force-resume)."""
    if saved is None or now is None or force:
        return  # a file from before fingerprints, or a built-in set (drawn from its seed)
    if saved != now:
        raise BadInput(
            f"--resume: the data differs from what {run_dir / 'model.pt'} was trained on "
            f"({saved.get('rows')} rows, hash {str(saved.get('sha256'))[:12]}; now "
            f"{now.get('rows')} rows, hash {str(now.get('sha256'))[:12]}): give the same "
            "data, or --force-resume to continue on this one"
        )


# Settings --resume can change: the rest are the checkpoint's, and another value is refused.
RESUME_MAY_CHANGE = ("epochs", "device", "threads")


def resume_settings(run_dir: Path, flags: dict, name: str, settings, config: Path | None):
    """The checkpoint's settings (only --epochs and --device may change), its training
    state and the fingerprint of its data. A setting given another value by a flag, an
    ALTERNATORS_* variable or the --config file is refused by name."""
    from alternators_cli import checkpoint
    from alternators_cli.settings import parse_settings, settings_sources

    path = run_dir / "model.pt"
    if not path.exists():
        raise BadInput(f"--resume: no checkpoint {path} to continue from")
    ckpt = checkpoint.load(str(path))
    if not checkpoint.can_resume(ckpt.payload):
        raise BadInput(f"--resume: {path} holds no training state (a sampling-only checkpoint)")
    if ckpt.data["name"] != name:
        raise BadInput(
            f"--resume: {path} was trained on {ckpt.data['name']!r}, not {name!r}"
        )
    saved = ckpt.settings.model_dump(mode="json")
    given_values, sources = settings_sources(flags, config)
    given = settings.model_dump(mode="json")
    for key, source in sources.items():
        if key in RESUME_MAY_CHANGE or key not in given:
            continue
        if saved.get(key) != given[key]:
            raise BadInput(
                f"--resume continues with the checkpoint's settings: {source} is "
                f"{given[key]!r} here but {saved.get(key)!r} there (only --epochs and "
                "--device may change)"
            )
    for key in RESUME_MAY_CHANGE:
        if key in sources:
            saved[key] = given[key]
    if saved["epochs"] <= ckpt.payload["epoch"]:
        raise BadInput(
            f"--resume: the run already has {ckpt.payload['epoch']} of {saved['epochs']} epochs; "
            "give a larger --epochs to train further"
        )
    return parse_settings(saved), ckpt.payload["state"], ckpt.data.get("fingerprint")


def run_training(settings, training_data, heldout, run_dir: Path, device, checkpoint_every: int,
                 as_json: bool, state: dict | None = None, rank: int = 0,
                 world_size: int = 1, commit=None, shown_dir: Path | None = None) -> None:
    """Train, saving periodically and at the end; in a process group only rank 0 prints
    and writes files. With `commit` (--overwrite), files go to `run_dir`, a staging
    directory, and `commit()` puts it in the place of `shown_dir` once the run is saved."""
    from alternators_cli import checkpoint
    from alternators_cli.allocator import reuse_freed_memory
    from alternators_cli.files import atomic_write_with
    from alternators_cli.trainer import Trainer

    main = rank == 0
    reuse_freed_memory()  # no page faults for each step's fresh activations (allocator.py)
    trainer = Trainer(settings, training_data, device, rank=rank, world_size=world_size)
    if state is not None:
        trainer.load_state_dict(state)
    model_path = run_dir / "model.pt"
    shown_dir = shown_dir or run_dir
    final_path = shown_dir / "model.pt"  # where the checkpoint is once the run is committed
    processes = f" x {world_size} processes" if world_size > 1 else ""
    if main:
        print(
            f"training on {training_data.name} ({training_data.dim}-D) for {settings.epochs} "
            f"epochs on {device}{processes}"
            + (f" ({trainer.threads()} thread(s))" if device.type == "cpu" else "")
            + f"; writing {shown_dir}/",
            file=sys.stderr, flush=True,
        )
        for note in training_data.notes:  # e.g. a time column, a shorter default --window
            print(note, file=sys.stderr, flush=True)
    started = time.perf_counter()

    def save() -> None:
        if not main:
            return
        payload = checkpoint.build_payload(trainer, heldout, time.perf_counter() - started)
        atomic_write_with(model_path, lambda f: checkpoint.save(payload, f))

    progress = Progress(settings.epochs, trainer.epoch) if main else (lambda report: None)
    with StopSignals() as signals:

        def on_epoch(report) -> bool:
            progress(report)
            if checkpoint_every and report.epoch % checkpoint_every == 0:
                save()
            return signals.received is None

        try:
            trainer.run(on_epoch)
        except RunFailure:
            if main and commit is not None:
                print(f"the previous run in {shown_dir} is unchanged", file=sys.stderr)
            elif main and model_path.exists():
                print(f"kept the last good checkpoint: {model_path}", file=sys.stderr)
            raise
        finally:
            if main:
                progress.close()
        save()
        if main:
            write_run_files(trainer, run_dir)
            if commit is not None:
                commit()
        if signals.received is not None:
            if main:
                print(f"interrupted at epoch {trainer.epoch}; checkpoint saved to {final_path}",
                      file=sys.stderr)
            raise typer.Exit(128 + int(signals.received))
    if not main:
        return
    elapsed = time.perf_counter() - started
    print(f"trained {trainer.epoch} epochs in {elapsed:.1f}s; checkpoint: {final_path}",
          file=sys.stderr, flush=True)
    final_evaluation(final_path, as_json)


def write_run_files(trainer, run_dir: Path) -> None:
    from alternators_cli.files import atomic_write_bytes
    from alternators_cli.plots import loss_png

    settings_json = json.dumps(trainer.settings.model_dump(mode="json"), indent=2) + "\n"
    atomic_write_bytes(run_dir / "settings.json", settings_json.encode())
    lines = ["epoch,loss"] + [f"{i + 1},{v:.6g}" for i, v in enumerate(trainer.history)]
    atomic_write_bytes(run_dir / "metrics.csv", ("\n".join(lines) + "\n").encode())
    atomic_write_bytes(run_dir / "loss.png", loss_png(trainer.history))


def final_evaluation(model_path: Path, as_json: bool) -> None:
    ckpt = load_checkpoint(str(model_path), kind=None)
    if ckpt.payload["kind"] == "sequence":
        from alternators_cli.cli_sequences import evaluate_sequence_checkpoint

        try:
            evaluate_sequence_checkpoint(ckpt, None, as_json)
        except BadInput as exc:  # the run itself succeeded: say why it is not scored
            print(f"no evaluation: {exc}", file=sys.stderr)
        return
    reference = ckpt.reference()
    if reference is None:
        kept = 0 if ckpt.heldout is None else len(ckpt.heldout)
        print(f"no evaluation: {kept} held-out row(s), at least 4 are needed (more rows, or "
              "a larger --heldout)", file=sys.stderr)
        return
    from alternators_cli import engine, evaluation

    n = 5000 if reference.max_n() is None else min(5000, reference.max_n())
    samples = engine.sample(ckpt.model, ckpt.normalizer, n, seed=12345)
    result = evaluation.report(samples, reference, n, seed=0,
                               baselines=ckpt.baseline_samples(reference, n, seed=12345))
    print_report(result, as_json, source=f"{n} fresh samples")


# ---- sample ---------------------------------------------------------------------------


@app.command()
@handle_errors
def sample(
    checkpoint_spec: CheckpointOpt,
    n: Annotated[
        int | None,
        typer.Option("-n", "--num", min=1,
                     help="Number of points, or of trajectories for a sequence model.",
                     show_default="10000 points, 10 trajectories"),
    ] = None,
    seed: SeedOpt = 0,
    fmt: FormatOpt = Format.csv,
    output: OutputOpt = None,
    all_steps: Annotated[
        bool,
        typer.Option(
            "--all-steps", help="Emit every step x_1..x_T (npy [T, n, D]; CSV: step column)."
        ),
    ] = False,
    length: Annotated[
        int | None,
        typer.Option("--length", min=1, max=1_000_000,
                     help="Sequences: time steps per trajectory [default: the training window]."),
    ] = None,
    device: DeviceOpt = "cpu",
) -> None:
    """Draw samples from a trained alternator (CSV with a header on stdout by default).

    A sequence model draws n trajectories of --length steps: npy of shape (n, T, D), or CSV with
    columns path, t and the channels.

    Same checkpoint and --seed give byte-identical output on the same machine.

    Example: alternators sample -c runs/pinwheel/model.pt -n 2000 --seed 1 > samples.csv
    """
    from alternators_cli import engine
    from alternators_cli import output as enc

    ckpt = load_checkpoint(checkpoint_spec, device, kind=None)
    if ckpt.payload["kind"] == "sequence":
        if all_steps:
            raise BadInput("--all-steps is for distributions: a sequence's steps are its rows")
        from alternators_cli.cli_sequences import sample_sequences

        sample_sequences(ckpt, n or 10, length, seed, fmt is Format.npy, output)
        return
    n = n or 10_000
    if length is not None:
        raise BadInput("--length is for sequence models; this checkpoint holds a distribution")
    dim, T = ckpt.dim, ckpt.model.steps
    if all_steps:  # every step of every point is held at once (a step-major output)
        refuse_above_memory(4.0 * n * T * dim * 3, f"sample --all-steps -n {n}",
                            "draw fewer points (-n), or leave out --all-steps to stream")
    with open_output(output, fmt is Format.npy) as out:
        if all_steps:
            frames = engine.sample(ckpt.model, ckpt.normalizer, n, seed, all_steps=True)
            if fmt is Format.npy:
                out.write(enc.npy_bytes(frames))
            else:
                out.write(enc.csv_header(ckpt.columns, with_step=True))
                for t in range(T):
                    out.write(enc.csv_rows(frames[t], step=t + 1))
            return
        if fmt is Format.npy:
            out.write(enc.npy_header((n, dim)))
        else:
            out.write(enc.csv_header(ckpt.columns))
        for chunk in engine.sample_chunks(ckpt.model, ckpt.normalizer, n, seed):
            points = chunk.cpu().numpy()
            out.write(points.astype("<f4").tobytes() if fmt is Format.npy else enc.csv_rows(points))


# ---- evaluate -------------------------------------------------------------------------


def reference_from_spec(spec: str):
    from alternators_cli.data import (
        BUILTINS,
        check_distribution_table,
        looks_like_file,
        read_table,
        unknown_dataset_message,
    )
    from alternators_cli.evaluation import Reference

    if spec in BUILTINS:
        return Reference(spec, True)
    if not looks_like_file(spec) and not Path(spec).exists():
        raise BadInput(unknown_dataset_message(spec))
    if spec == "-":
        raise BadInput("--reference - is not supported: standard input is for --samples")
    table = read_table(spec)
    return Reference(Path(spec).name, False, check_distribution_table(table, min_rows=4))


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


def print_report(result: dict, as_json: bool, source: str) -> None:
    from alternators_cli.metrics import METRICS

    if as_json:
        print(json.dumps(finite_or_null(result), indent=2, allow_nan=False))
        return
    sizes = f"n = {result['n']}"
    if result.get("units") == "standardised":
        sizes = (f"{result['n']} samples, {result['n_reference']} reference rows, "
                 "standardised units")
    table = RichTable(title=f"{source} vs {result['reference']}", caption=sizes)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("floor", justify="right")
    table.add_column("ratio", justify="right")
    labels = {"energy_distance": "energy distance", "mmd": "MMD^2", "sliced_w2": "sliced W2"}
    for key in METRICS:
        r = result[key]
        ratio = f"{r['ratio']:.2f}"
        if "ratio_low" in r:
            ratio += f" [{r['ratio_low']:.2f}, {r['ratio_high']:.2f}]"
        table.add_row(labels[key], f"{r['value']:.5g}", f"{r['floor']:.5g}", ratio)
    console = Console(width=100)
    console.print(table)
    if "excess_energy" in result:
        own = "this model" if result.get("baselines") else "samples"
        rows = [(own, result)] + list(result.get("baselines", {}).items())
        title = ("beside baselines fitted on the training part" if result.get("baselines")
                 else "unbiased energy distance and classifier test")
        beside = RichTable(title=title)
        beside.add_column("model")
        beside.add_column("energy (unbiased) [95% interval]", justify="right")
        beside.add_column("classifier accuracy (0.5 = alike)", justify="right")
        for name, r in rows:
            e, c = r["excess_energy"], r["c2st"]
            beside.add_row(name, f"{e['value']:.4f} [{e['low']:.4f}, {e['high']:.4f}]",
                           f"{c['accuracy']:.3f} ± {c['stderr']:.3f}")
        console.print(beside)
    if result.get("warning"):
        print(f"warning: {result['warning']}", file=sys.stderr)


@app.command()
@handle_errors
def evaluate(
    checkpoint_spec: Annotated[
        str | None,
        typer.Option("--checkpoint", "-c", help="Evaluate fresh samples of this checkpoint."),
    ] = None,
    samples_spec: Annotated[
        str | None,
        typer.Option("--samples", help="Evaluate samples from a .csv/.npy file, or - for stdin."),
    ] = None,
    reference_spec: Annotated[
        str | None,
        typer.Option(
            "--reference", help="Built-in set name or file [default: the checkpoint's data]."
        ),
    ] = None,
    n: Annotated[int, typer.Option("-n", "--num", min=2, help="Points compared.")] = 5000,
    seed: SeedOpt = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Write a PNG of samples beside the reference (sequences: "
                                    "the backtest's forecasts against the truth)."),
    ] = None,
    input_spec: Annotated[
        str | None,
        typer.Option("--input", help="Sequences: held-out series to score (.csv/.npy) "
                                     "[default: the checkpoint's held-out part]."),
    ] = None,
    horizon: Annotated[
        int | None,
        typer.Option(min=1, max=100_000, help="Sequences: forecast horizon scored.",
                     show_default="20, less for a short series"),
    ] = None,
    season: Annotated[
        int | None,
        typer.Option(min=2, help="Sequences: season length for the seasonal-naive baseline "
                                 "[default: detected from the data, if any]."),
    ] = None,
    device: DeviceOpt = "cpu",
) -> None:
    """Score samples against a reference: energy distance, MMD^2 and sliced W2, each with
    its floor (the same metric between two reference draws) and the ratio.

    A sequence model is scored on held-out series instead: imputation, forecasts and (for
    lorenz) latent recovery, each beside a simple baseline.

    Example: alternators sample -c runs/pinwheel/model.pt \\
      | alternators evaluate --samples - --reference pinwheel
    """
    from alternators_cli import engine, evaluation
    from alternators_cli.data import check_distribution_table, draw_builtin, read_table
    from alternators_cli.files import atomic_write_bytes, check_writable_target
    from alternators_cli.plots import samples_vs_reference_png

    if (checkpoint_spec is None) == (samples_spec is None):
        raise BadInput("give exactly one of --checkpoint or --samples")
    if plot is not None:
        check_writable_target(plot)
    ckpt = load_checkpoint(checkpoint_spec, device, kind=None) if checkpoint_spec else None
    if ckpt is not None and ckpt.payload["kind"] == "sequence":
        if reference_spec is not None:
            raise BadInput("--reference is for distributions; a sequence model is scored on "
                           "--input (or its held-out part)")
        from alternators_cli.cli_sequences import evaluate_sequence_checkpoint

        evaluate_sequence_checkpoint(ckpt, input_spec, as_json, horizon, season, seed, plot)
        return
    if input_spec is not None:
        raise BadInput("--input is for sequence models: give --reference for a distribution")
    if reference_spec is not None:
        reference = reference_from_spec(reference_spec)
    elif ckpt is not None:
        reference = ckpt.reference()
        if reference is None:
            raise BadInput("the checkpoint keeps no held-out data: give --reference")
    else:
        raise BadInput("--samples needs --reference (a built-in set name or a file)")
    if ckpt is not None:
        if ckpt.dim != reference.dim:
            raise BadInput(
                f"checkpoint makes {ckpt.dim}-D points but the reference has "
                f"{reference.dim} columns"
            )
        cap = reference.max_n()
        count = n if cap is None else min(n, cap)
        # The samples, 7 reference draws of n points, and blocks of pairwise distances.
        refuse_above_memory(8.0 * count * ckpt.dim * 10 + 4.0 * 2048 * count * 3,
                            f"evaluate -n {n}", "compare fewer points (-n)")
        points = engine.sample(ckpt.model, ckpt.normalizer, count, seed)
        source, columns = f"{count} samples of {checkpoint_spec}", ckpt.columns
    else:
        table = read_table(samples_spec, sys.stdin.buffer if samples_spec == "-" else None)
        points = check_distribution_table(table, min_rows=2)
        source = "stdin samples" if samples_spec == "-" else f"samples {samples_spec}"
        columns = table.columns
    baselines = None if ckpt is None else ckpt.baseline_samples(reference, len(points), seed)
    result = evaluation.report(points, reference, n, seed, baselines=baselines)
    if plot is not None:  # before the report: a failed write leaves no half-done output
        ref_points = (
            draw_builtin(reference.name, result["n"], seed + 1)
            if reference.builtin else reference.points
        )
        png = samples_vs_reference_png(points, ref_points, columns, title=source)
        atomic_write_bytes(plot, png)
        print(f"plot written to {plot}", file=sys.stderr)
    print_report(result, as_json, source)


# ---- animate --------------------------------------------------------------------------


@app.command()
@handle_errors
def animate(
    checkpoint_spec: CheckpointOpt,
    output: Annotated[
        str, typer.Option("-o", "--output", help="GIF file to write, or - for stdout.")
    ] = "cycle.gif",
    n: Annotated[int, typer.Option("-n", "--num", min=1, help="Points per frame.")] = 5000,
    fps: Annotated[float, typer.Option(min=0.1, max=100, help="Frames per second.")] = 4.0,
    seed: SeedOpt = 0,
    device: DeviceOpt = "cpu",
) -> None:
    """Animate the generative cycle: one frame per step, generated points beside the data.

    The sampler runs once (all steps kept); frames are drawn from that single run.

    Example: alternators animate -c runs/pinwheel/model.pt -o pinwheel.gif
    """
    from alternators_cli import engine
    from alternators_cli.data import draw_builtin
    from alternators_cli.plots import cycle_frames, encode_gif

    ckpt = load_checkpoint(checkpoint_spec, device, kind=None)
    if not is_stdout(output) and not output.lower().endswith(".gif"):
        raise BadInput(f"-o {output}: animate writes a GIF; give a file name ending in .gif")
    if ckpt.payload["kind"] == "sequence":
        from alternators_cli.cli_sequences import animate_sequence

        animate_sequence(ckpt, output, fps, seed)
        return
    refuse_above_memory(4.0 * n * ckpt.model.steps * ckpt.dim * 3 + 64.0 * n,
                        f"animate -n {n}", "draw fewer points per frame (-n)")
    with open_output(output, binary_format=True) as out:
        frames = engine.sample(ckpt.model, ckpt.normalizer, n, seed, all_steps=True)
        reference = ckpt.reference()
        if reference is not None and reference.builtin:
            data_points = draw_builtin(reference.name, n, seed + 1)
        elif reference is not None:
            data_points = reference.points[:n]
        else:
            data_points = frames[-1]
        sigma_x = ckpt.model.sigma_x.tolist()
        images = cycle_frames(frames, data_points, sigma_x, ckpt.data["name"], ckpt.columns)
        out.write(encode_gif(images, fps, hold_last=max(1, int(fps))))
    if not is_stdout(output):
        print(f"wrote {len(images)} frames to {output}", file=sys.stderr)


# ---- info -----------------------------------------------------------------------------


@app.command()
@handle_errors
def info(
    checkpoint_spec: CheckpointOpt,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show what a checkpoint holds: data, settings, parameters, training, versions.

    Example: alternators info -c runs/pinwheel/model.pt --json
    """
    ckpt = load_checkpoint(checkpoint_spec, kind=None)
    d = ckpt.describe()
    if as_json:
        print(json.dumps(d, indent=2))
        return
    table = RichTable(title=f"checkpoint {d['path']}", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    data_desc = f"{d['data']['name']} ({'built-in' if d['data']['builtin'] else 'file'}, " \
        f"{d['data']['dim']}-D, columns {', '.join(d['data']['columns'][:8])})"
    table.add_row("data", data_desc)
    table.add_row("held-out rows", str(d["heldout_rows"]))
    table.add_row("parameters", f"{d['parameters']['total']:,} (OPN {d['parameters']['opn']:,}, "
                                f"STN {d['parameters']['stn']:,})")
    table.add_row("epochs trained", str(d["epochs_trained"]))
    table.add_row("final loss", "-" if d["final_loss"] is None else f"{d['final_loss']:.5g}")
    if d.get("train_seconds") is not None:
        table.add_row("training time", f"{d['train_seconds']:.1f}s")
    table.add_row("versions", f"alternators {d['package_version']}, format {d['format_version']}")
    for key, value in d["settings"].items():
        table.add_row(f"  {key}", str(value))
    Console(width=100).print(table)


def _guard_standard_streams() -> None:
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
                sys.stdout = _ClosedStream("standard output")
            elif fd == 2:  # messages go nowhere, but never to stdout (print's fallback)
                with contextlib.suppress(OSError):
                    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115


def main() -> None:
    _guard_standard_streams()
    from alternators_cli.settings import read_distributed_env

    try:
        world_size = read_distributed_env()[1]
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    if world_size > 1:
        # Under torchrun: leave without interpreter finalisation, where gloo's worker
        # threads can still abort the process (SIGABRT) after a clean finish.
        code = app(standalone_mode=False)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else 0)
    app()


# Sequence commands (impute, forecast) register on the same app.
from alternators_cli import cli_sequences  # noqa: E402,F401

if __name__ == "__main__":
    main()
