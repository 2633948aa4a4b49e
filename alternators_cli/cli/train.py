"""`train`: the setting options (derived from the settings' fields, see options.py), the
run's own options, and one call of runs.train. The progress bar and the signals that stop
training after the current epoch live here: runs.py never prints."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from alternators_cli import choices
from alternators_cli.cli.common import err, interrupting_signals, is_quiet, say, warn
from alternators_cli.cli.options import RUN, setting
from alternators_cli.errors import Interrupted
from alternators_cli.settings import ALL_FIELDS


def train(
    data_spec: Annotated[
        str,
        typer.Argument(
            metavar="DATA", show_default=False,
            help="A built-in data set name, a .csv / .npy file, or - for CSV on stdin.",
        ),
    ],
    kind: Annotated[choices.Kind | None, setting("kind")] = None,
    heldout: Annotated[float | None, setting("heldout")] = None,
    normalize: Annotated[choices.Normalize | None, setting("normalize")] = None,
    time_column: Annotated[str | None, setting("time_column")] = None,
    id_column: Annotated[str | None, setting("id_column")] = None,
    window: Annotated[int | None, setting("window")] = None,
    season: Annotated[str | None, setting("season")] = None,
    season_lags: Annotated[int | None, setting("season_lags")] = None,
    transform: Annotated[choices.Transform | None, setting("transform")] = None,
    increments: Annotated[bool | None, setting("increments")] = None,
    variant: Annotated[choices.Variant | None, setting("variant")] = None,
    steps: Annotated[int | None, setting("steps")] = None,
    latent_dim: Annotated[int | None, setting("latent_dim")] = None,
    hidden: Annotated[int | None, setting("hidden")] = None,
    layers: Annotated[int | None, setting("layers")] = None,
    activation: Annotated[choices.Activation | None, setting("activation")] = None,
    linear_skip: Annotated[bool | None, setting("linear_skip")] = None,
    fourier_features: Annotated[int | None, setting("fourier_features")] = None,
    fourier_scale: Annotated[float | None, setting("fourier_scale")] = None,
    opn_fourier_features: Annotated[int | None, setting("opn_fourier_features")] = None,
    opn_fourier_scale: Annotated[float | None, setting("opn_fourier_scale")] = None,
    noise_max: Annotated[float | None, setting("noise_max")] = None,
    noise_min: Annotated[float | None, setting("noise_min")] = None,
    schedule_rho: Annotated[float | None, setting("schedule_rho")] = None,
    alpha: Annotated[float | None, setting("alpha")] = None,
    sigma_z_scale: Annotated[float | None, setting("sigma_z_scale")] = None,
    epochs: Annotated[int | None, setting("epochs")] = None,
    epoch_size: Annotated[int | None, setting("epoch_size")] = None,
    batch_size: Annotated[int | None, setting("batch_size")] = None,
    lr: Annotated[float | None, setting("lr")] = None,
    ema: Annotated[float | None, setting("ema")] = None,
    objective: Annotated[choices.Objective | None, setting("objective")] = None,
    draws: Annotated[int | None, setting("draws")] = None,
    scored_steps: Annotated[int | None, setting("scored_steps")] = None,
    precision: Annotated[choices.Precision | None, setting("precision")] = None,
    threads: Annotated[int | None, setting("threads")] = None,
    seed: Annotated[int | None, setting("seed")] = None,
    device: Annotated[str | None, setting("device")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Run directory.", rich_help_panel=RUN,
                                  show_default="runs/<data name>")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", rich_help_panel=RUN,
                     help="Settings file (flags win): TOML, or a run's settings.json to "
                          "repeat that run."),
    ] = None,
    print_config: Annotated[
        bool, typer.Option("--print-config", rich_help_panel=RUN,
                           help="Print the resolved settings as JSON (a settings file for "
                                "--config) and exit without training.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", rich_help_panel=RUN,
                           help="Replace the run in a non-empty run directory (built beside "
                                "it, swapped in once saved; other files are kept).")
    ] = False,
    checkpoint_every: Annotated[
        int, typer.Option(min=0, rich_help_panel=RUN,
                          help="Save a checkpoint every N epochs (0 = only at the end).")
    ] = 10,
    resume: Annotated[
        bool, typer.Option("--resume", rich_help_panel=RUN,
                           help="Continue the run in --out from its checkpoint (same data; "
                                "--epochs may grow).")
    ] = False,
    force_resume: Annotated[
        bool, typer.Option("--force-resume", rich_help_panel=RUN,
                           help="Like --resume, but also when the data differs from the run's "
                                "(its fingerprint, rows and a hash of them, is kept in the "
                                "checkpoint).")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the final evaluation as JSON.",
                           rich_help_panel=RUN)
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", rich_help_panel=RUN,
                           help="No progress or informational lines on stderr (errors and "
                                "warnings still print).")
    ] = False,
) -> None:
    """Train an alternator on a distribution or on time series and write a run directory.

    Writes model.pt, settings.json, metrics.csv and loss.png into --out, then prints the
    evaluation of a fresh sample against held-out data.

    Example: alternators train pinwheel --epochs 50 --out runs/pw

    Example: alternators train series.csv --kind sequence --window 64

    Example: alternators train pinwheel --config runs/pw/settings.json --out runs/pw2
    """
    from alternators_cli import runs

    given = locals()
    flags = {name: given[name] for name in ALL_FIELDS}  # the settings' order
    if print_config:
        settings = runs.resolved_settings(data_spec, flags, config)
        print(json.dumps(settings.model_dump(mode="json"), indent=2))
        return
    display = TrainingDisplay()
    result = runs.train(data_spec, flags, config, out=out, overwrite=overwrite, resume=resume,
                        force_resume=force_resume, checkpoint_every=checkpoint_every,
                        events=display)
    if display.received is not None:
        if result.main:
            warn(f"interrupted at epoch {result.epochs}; checkpoint saved to "
                 f"{result.checkpoint}")
        raise typer.Exit(128 + int(display.received))
    if result.main:
        from alternators_cli.cli.evaluate import final_evaluation

        final_evaluation(result.checkpoint, as_json)


class TrainingDisplay:
    """The command line's side of a run (runs.RunEvents): its messages and progress on
    stderr, and Ctrl-C / SIGTERM / SIGHUP asking it to stop after the current epoch, then
    save (a second signal stops at once)."""

    def __init__(self):
        self.received: int | None = None
        self.previous: dict[int, Any] = {}
        self.progress = None

    def message(self, text: str) -> None:
        say(text)

    def warning(self, text: str) -> None:
        warn(text)

    def training(self, epochs: int, start_epoch: int, main: bool) -> None:
        for sig in interrupting_signals():  # as signals_interrupt: an ignored SIGHUP stays so
            # Not possible outside the main thread (e.g. some test runners): then no handler.
            with contextlib.suppress(ValueError):
                self.previous[sig] = signal.signal(sig, self._handle)
        if main and not is_quiet():
            self.progress = Progress(epochs, start_epoch)

    def epoch(self, report) -> bool:
        if self.progress is not None:
            self.progress(report)
        return self.received is None

    def done(self) -> None:
        if self.progress is not None:
            self.progress.close()
            self.progress = None
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous.clear()

    def _handle(self, signum, frame):
        if self.received is not None:  # a second signal: stop now, exit by this one
            raise Interrupted(signum)
        self.received = signum
        warn("\nstopping after this epoch to save a checkpoint (again to abort)...")


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


