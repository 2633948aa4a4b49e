"""What every benchmark shares: docs/benchmarks.md's marked sections, the one-line host
description, the CLI as a subprocess, results kept between runs, and (last section) the one
seam through which benchmarks reach alternators_cli's internals.

Imports nothing from benchmarks/, so no benchmark can form a cycle through it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

# The seam: the only alternators_cli names benchmarks/ uses (see the last section).
from alternators_cli import baselines as _baselines
from alternators_cli import checkpoint as _checkpoint
from alternators_cli import engine as _engine
from alternators_cli import evaluation as _evaluation
from alternators_cli import sequence_metrics as sequence_metrics
from alternators_cli.allocator import reuse_freed_memory as reuse_freed_memory
from alternators_cli.datasets import BUILTINS, REQUIRED
from alternators_cli.datasets import draw_builtin as draw_builtin
from alternators_cli.kinds import build_model
from alternators_cli.kinds.distribution import NARROW_TABLE as NARROW_TABLE
from alternators_cli.kinds.distribution import NARROW_TABLE_STEPS as NARROW_TABLE_STEPS
from alternators_cli.kinds.distribution import TABLE_LATENT_DIM as TABLE_LATENT_DIM
from alternators_cli.metrics import energy_distance as energy_distance
from alternators_cli.model import flops_per_point, parameter_counts
from alternators_cli.normalize import Normalizer
from alternators_cli.settings import DistributionSettings, parse_settings
from alternators_cli.trainer import Trainer
from alternators_cli.training_data import TrainingData

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
OUT = ROOT / "benchmarks" / "out"  # kept runs and scratch files; not in git
BENCHMARKS_MD = DOCS / "benchmarks.md"


def argument_parser(spec, doc: str) -> argparse.ArgumentParser:
    """A parser named as the benchmark is run (`python -m benchmarks.NAME`), described by
    the first line of its docstring."""
    return argparse.ArgumentParser(prog=f"python -m {spec.name}", description=doc.splitlines()[0])


def positive(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


# ---- docs/benchmarks.md ------------------------------------------------------------------


def write_section(path: Path, key: str, body: str) -> None:
    """Replace the block between `<!-- key:start -->` and `<!-- key:end -->` with `body`,
    or add it at the end under `## Key`; everything outside the markers is left as it is."""
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{body.strip(chr(10))}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + f"\n\n## {key.capitalize()}\n\n{block}\n"
    path.write_text(text)


def write_json(path: Path, payload) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, default=float) + "\n")


# ---- the host --------------------------------------------------------------------------


def median_time(fn, repeats: int) -> float:
    """Median wall seconds of `fn()` over `repeats` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def paired_medians(runs: dict, repeats: int, warm_up: bool = True) -> dict:
    """Median wall seconds of each of `runs` (name -> callable), measured in turns: A B A B
    ..., so that a change in the host's load falls on every one of them alike. With
    `warm_up`, one untimed call of each first."""
    if warm_up:
        for fn in runs.values():
            fn()
    times: dict = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def matmul_peak(threads: int, sizes=(256, 512, 1024, 2048)) -> tuple[float, int]:
    """The best median torch.mm GFLOP/s over square float32 sizes at `threads` threads,
    and that size. Leaves torch's thread count as it found it."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        best = (0.0, 0)
        for size in sizes:
            a, b = torch.randn(size, size), torch.randn(size, size)
            seconds = median_time(lambda a=a, b=b: torch.mm(a, b), max(7, int(2e9 / size**3)))
            best = max(best, (2 * size**3 / seconds / 1e9, size))
        return best
    finally:
        torch.set_num_threads(before)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_seconds() -> float:
    """CPU seconds of this process and of every child it has waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Host:
    """The machine as one benchmark run found it: made at the start of the run, described
    at its end in one line (the first line of the run's section in docs/benchmarks.md)."""

    def __init__(self) -> None:
        self.load_start = os.getloadavg()[0]
        self.wall_start = time.perf_counter()
        self.cpu_start = cpu_seconds()

    def line(self, threads: int | None = None, peak: float | None = None) -> str:
        """CPU, threads, torch, the matmul peak at those threads (measured now unless the
        run measured it: `peak`), the load average at the start and now, and the run's wall
        and CPU seconds (children included)."""
        threads = threads or torch.get_num_threads()
        wall = time.perf_counter() - self.wall_start
        cpu = cpu_seconds() - self.cpu_start
        if peak is None:
            peak, _ = matmul_peak(threads)
        return (f"Host: {cpu_name()} ({os.cpu_count()} cores), {threads} torch thread(s), "
                f"torch {torch.__version__}, matmul peak {peak:.1f} GFLOP/s at {threads} "
                f"thread(s), load average {self.load_start:.1f} at the start and "
                f"{os.getloadavg()[0]:.1f} at the end; the run took {wall:,.0f} s wall, "
                f"{cpu:,.0f} s CPU.")


# ---- the command line as a user runs it ------------------------------------------------


def cli_command() -> list[str]:
    """`alternators` as this interpreter runs this checkout's package."""
    return [sys.executable, "-m", "alternators_cli"]


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for a CLI subprocess: this checkout first on the path, so the
    command runs the same package the benchmark imports, whatever the working directory."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


@dataclass
class CliRun:
    stdout: str
    stderr: str
    wall_s: float
    cpu_s: float  # CPU seconds of the command (at most threads x wall)


def run_cli(*args: str, launcher: list[str] | None = None,
            env: dict[str, str] | None = None) -> CliRun:
    """Run `alternators ARGS` (or `launcher ARGS`, e.g. torchrun) and wait; its stdout and
    stderr are captured. A failure stops the benchmark with the command and its last
    lines of stderr, not a traceback."""
    cmd = [*(launcher or cli_command()), *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env or cli_env())
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-20:])
        raise SystemExit(f"benchmark: `{' '.join(cmd)}` failed (exit {done.returncode}):\n"
                         f"{tail}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return CliRun(done.stdout, done.stderr, wall, cpu)


# ---- results kept between runs ---------------------------------------------------------


def fingerprint(obj) -> str:
    """12 hex digits of the SHA-256 of `obj` as canonical JSON: a key that depends on
    nothing but the value (sorted keys, no dates, no paths unless given)."""
    blob = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def array_fingerprint(values: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest()[:12]


class Cache:
    """Results kept on disk between runs: one JSON file per name (and optionally one .npy
    array beside it) under `root`, whose own name should be a fingerprint of everything
    the results depend on. `fresh` ignores what is kept (and overwrites it)."""

    def __init__(self, root: Path, fresh: bool = False):
        self.dir = root
        self.fresh = fresh

    def get(self, name: str) -> dict | None:
        path = self.dir / f"{name}.json"
        if self.fresh or not path.exists():
            return None
        return json.loads(path.read_text())

    def array(self, name: str) -> np.ndarray | None:
        path = self.dir / f"{name}.npy"
        return np.load(path) if path.exists() else None

    def put(self, name: str, value: dict, array: np.ndarray | None = None) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if array is not None:
            np.save(self.dir / f"{name}.npy", array)
        # Last: a JSON file means the result is complete (an interrupted run left none).
        (self.dir / f"{name}.json").write_text(json.dumps(value, default=float) + "\n")

    def get_or_compute(self, name: str, compute) -> dict:
        kept = self.get(name)
        if kept is None:
            kept = compute()
            self.put(name, kept)
        return kept


# ---- the seam into alternators_cli -----------------------------------------------------
# Every alternators_cli name that benchmarks/ uses is imported by this module (at the top)
# and nowhere else; the rest drives the `alternators` command line. A change to the
# library's internals changes this module only: the names below, and the re-exports
# sequence_metrics, reuse_freed_memory, draw_builtin and energy_distance.

CPU = torch.device("cpu")


def required_sets() -> list[str]:
    """The built-in 2-D sets the quality targets are judged on."""
    return list(REQUIRED)


def distribution_sets() -> list[str]:
    """Every built-in 2-D set."""
    return [n for n, b in BUILTINS.items() if b.kind == "distribution"]


def settings(**overrides):
    """`alternators train`'s settings for a distribution on the CPU, with `overrides`."""
    return parse_settings({"device": "cpu", **overrides})


def settings_key(**overrides) -> dict:
    """Every setting of a run (less its seed) as JSON: what a kept result's key hashes."""
    values = settings(**overrides).model_dump(mode="json")
    values.pop("seed")
    return values


def builtin_trainer(name: str, seed: int, overrides: dict) -> Trainer:
    """The trainer `alternators train NAME --seed SEED` runs, on the CPU, not yet run:
    `run(on_epoch)`, `sampling_model()`, `normalizer`, `batches(epoch)`, `settings`. It
    trains on torch's thread count at the time it is built (the count the benchmark set
    and reports), or on `threads` where the overrides give it."""
    data = TrainingData(name, BUILTINS[name].dim, ["x0", "x1"], True)
    trainer = Trainer(settings(seed=seed, **overrides), data, CPU)
    trainer.fix_threads(overrides.get("threads") or torch.get_num_threads())
    return trainer


def save_trained(trainer: Trainer, path: Path, train_s: float) -> None:
    """The trained model as the checkpoint `alternators train` writes (no held-out rows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(_checkpoint.build_payload(trainer, None, train_s), path)


def training_record(path: Path) -> tuple[float, int | None]:
    """The training seconds (setup and evaluation excluded) and CPU threads (None: not
    recorded) that a run's model.pt records."""
    payload = _checkpoint.load(str(path), device="cpu").payload
    return float(payload["train_seconds"]), payload.get("train_threads")


def load_model(path: Path | str):
    """(sampling network, normaliser) of a checkpoint file or `pretrained:NAME`."""
    loaded = _checkpoint.load(str(path), device="cpu")
    return loaded.model, loaded.normalizer


def sample(model, normalizer, n: int, seed: int) -> np.ndarray:
    """n points in data units, as `alternators sample -n N --seed SEED` draws them."""
    return _engine.sample(model, normalizer, n, seed=seed)


def sample_chunks(model, normalizer, n: int, seed: int):
    return _engine.sample_chunks(model, normalizer, n, seed=seed)


def identity_normalizer(dim: int):
    """A normaliser that leaves data as it is (for timing a bare network)."""
    return Normalizer(mean=np.zeros(dim, np.float32), scale=np.ones(dim, np.float32))


def decode(normalizer, x: torch.Tensor) -> np.ndarray:
    """Normalised units (a peer's samples) -> data units."""
    return normalizer.decode_(x.clone()).numpy()


def network(dim: int, train_settings: DistributionSettings):
    """A fresh (untrained) network of `dim` columns at these settings, in eval mode."""
    return build_model(dim, train_settings).eval()


def parameter_count(model) -> int:
    return parameter_counts(model)["total"]


def flops(model) -> int:
    """FLOPs (matmuls) of one sampled point over the T steps."""
    return flops_per_point(model)


def axis_limits(*point_sets: np.ndarray):
    """The plots' fixed limits for 2-D points (matplotlib is imported only when drawing)."""
    from alternators_cli.plots import axis_limits as limits

    return limits(*point_sets)


def score_builtin(points: np.ndarray, name: str, n: int, seed: int) -> dict:
    """`alternators evaluate`'s report of `points` against fresh draws of a built-in set."""
    return _evaluation.report(points, _evaluation.Reference(name, True), n, seed=seed)


def score_rows(samples: np.ndarray, rows: np.ndarray, label: str, n: int, seed: int,
               baselines: dict[str, np.ndarray] | None = None) -> dict:
    """`alternators evaluate`'s report of `samples` against reference rows, beside the
    samples of `baselines` scored the same way."""
    reference = _evaluation.Reference(label, False, rows.astype(np.float32))
    return _evaluation.report(samples, reference, n, seed, baselines=baselines)


def gaussian_baseline(train: np.ndarray, n: int, seed: int) -> np.ndarray:
    """n points of the Gaussian fitted on `train`, as `evaluate` draws its baseline."""
    return _baselines.draw_gaussian(train.mean(axis=0), np.cov(train, rowvar=False), n,
                                    seed)
