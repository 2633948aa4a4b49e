"""A training run and its directory: where it lives, when it may be written (busy,
--overwrite by building beside it and swapping in, --resume and what it may change), the
lock held meanwhile, the training loop with its periodic saves, and the files a run leaves.

Never prints: what the run has to say goes to the `RunEvents` the caller passes (the
command line shows progress and stops on a signal through it)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from alternators_cli.errors import BadInput, RunFailure
from alternators_cli.sources import builtin_defaults, choose_kind, data_name


class RunEvents:
    """What a run tells its caller, and the one thing it asks: whether to go on. This
    default says nothing and never stops."""

    def message(self, text: str) -> None:
        """An informational line (what is trained where, notes on the data)."""

    def warning(self, text: str) -> None:
        """What happened to the run directory when a run fails."""

    def training(self, epochs: int, start_epoch: int, main: bool) -> None:
        """The loop starts (in every process; `main` is the one that writes)."""

    def epoch(self, report) -> bool:
        """After each epoch (engine.EpochReport); False: save and stop."""
        return True

    def done(self) -> None:
        """The loop has ended: finished, stopped or failed."""


@dataclass
class RunResult:
    run_dir: Path
    checkpoint: Path  # the run's model.pt, where it is once the run is in place
    epochs: int  # epochs trained so far (fewer than settings.epochs when stopped)
    seconds: float
    stopped: bool  # events.epoch asked to stop: the checkpoint is saved
    main: bool  # this process wrote the run (rank 0)


def settings_for(data_spec: str, flags: dict, config: Path | None = None):
    """The settings a run on `data_spec` gets from flags > environment > --config >
    defaults (a built-in names its own kind)."""
    from alternators_cli.settings import load_train_settings

    flags = dict(flags)
    choose_kind(data_spec, flags)
    settings = load_train_settings(flags, config)
    builtin_defaults(data_spec, settings)
    return settings


def resolved_settings(data_spec: str, flags: dict, config: Path | None = None):
    """The settings a run on `data_spec` trains with (`train --print-config`): those of
    `settings_for`, then the defaults its data decides (a table's steps and latent size,
    a short series' window), where none was given. Reads the data."""
    from alternators_cli.kinds import kind_of

    settings = settings_for(data_spec, flags, config)
    kind = kind_of(settings)
    data, _ = kind.resolve_data(data_spec, settings)
    kind.adapt_settings(data, settings)
    return settings


def train(data_spec: str, flags: dict, config: Path | None = None, *, out: Path | None = None,
          overwrite: bool = False, resume: bool = False, force_resume: bool = False,
          checkpoint_every: int = 10, events: RunEvents | None = None) -> RunResult:
    """Train on `data_spec` (a built-in name, a file, `-`) into the run directory `out`
    [runs/<data name>]. `flags` are settings by field name (None = not given)."""
    from alternators_cli import engine
    from alternators_cli.files import RunLock, remove_stale_temporaries, temporary_sibling
    from alternators_cli.kinds import kind_of

    events = events or RunEvents()
    flags = dict(flags)
    choose_kind(data_spec, flags)
    resume = resume or force_resume
    if resume and overwrite:
        raise BadInput("--resume continues a run and --overwrite starts afresh: give only one")
    settings = settings_for(data_spec, flags, config)
    name = data_name(data_spec)
    run_dir = resolve_run_dir(out, name, data_spec)
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
        training_data, heldout = kind_of(settings).resolve_data(data_spec, settings)
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
        torch_device = engine.resolve_device(settings.device)
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

        result = run_training(
            settings, training_data, heldout, write_dir, torch_device, checkpoint_every,
            events, state, rank, world_size, commit=commit if staging else None,
            shown_dir=run_dir,
        )
        finished = not result.stopped
        return result
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


def threads_note(trainer) -> str:
    """'2 thread(s)', with the timings that chose it where they were measured."""
    chosen = trainer.threads()
    timed = ", ".join(f"{1000 * s:.0f} ms on {n}"
                      for n, s in sorted(trainer.thread_timings.items()))
    return f"{chosen} thread(s)" + (f"; a batch took {timed}" if timed else "")


def run_training(settings, training_data, heldout, run_dir: Path, device, checkpoint_every: int,
                 events: RunEvents, state: dict | None = None, rank: int = 0,
                 world_size: int = 1, commit=None, shown_dir: Path | None = None) -> RunResult:
    """Train, saving periodically and at the end; in a process group only rank 0 speaks
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
        events.message(
            f"training on {training_data.name} ({training_data.dim}-D) for {settings.epochs} "
            f"epochs on {device}{processes}"
            + (f" ({threads_note(trainer)})" if device.type == "cpu" else "")
            + f"; writing {shown_dir}/"
        )
        for note in training_data.notes:  # e.g. a time column, a shorter default --window
            events.message(note)
    started = time.perf_counter()

    def save() -> None:
        if not main:
            return
        payload = checkpoint.build_payload(trainer, heldout, time.perf_counter() - started)
        atomic_write_with(model_path, lambda f: checkpoint.save(payload, f))

    going = True

    def on_epoch(report) -> bool:
        nonlocal going
        going = events.epoch(report)
        if checkpoint_every and report.epoch % checkpoint_every == 0:
            save()
        return going

    events.training(settings.epochs, trainer.epoch, main)
    try:
        try:
            trainer.run(on_epoch)
        except RunFailure:
            if main and commit is not None:
                events.warning(f"the previous run in {shown_dir} is unchanged")
            elif main and model_path.exists():
                events.warning(f"kept the last good checkpoint: {model_path}")
            raise
        save()
        if main:
            write_run_files(trainer, run_dir)
            if commit is not None:
                commit()
    finally:
        events.done()
    elapsed = time.perf_counter() - started
    if main and going:
        events.message(f"trained {trainer.epoch} epochs in {elapsed:.1f}s; checkpoint: "
                       f"{final_path}")
    return RunResult(shown_dir, final_path, trainer.epoch, elapsed, not going, main)


def run_dir_is_busy(out: Path) -> bool:
    """True if `out` holds anything but a lock file and this tool's temporaries."""
    from alternators_cli.files import LOCK_NAME, TEMP_NAME

    if not out.exists():
        return False
    if not out.is_dir():
        return True
    return any(p.name != LOCK_NAME and not TEMP_NAME.match(p.name) for p in out.iterdir())



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



def write_run_files(trainer, run_dir: Path) -> None:
    from alternators_cli.files import atomic_write_bytes
    from alternators_cli.plots import loss_png

    settings_json = json.dumps(trainer.settings.model_dump(mode="json"), indent=2) + "\n"
    atomic_write_bytes(run_dir / "settings.json", settings_json.encode())
    lines = ["epoch,loss"] + [f"{i + 1},{v:.6g}" for i, v in enumerate(trainer.history)]
    atomic_write_bytes(run_dir / "metrics.csv", ("\n".join(lines) + "\n").encode())
    atomic_write_bytes(run_dir / "loss.png", loss_png(trainer.history))


