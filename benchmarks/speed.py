"""Speed against the machine's own limit (`make bench-speed`), in one run, one table.

- the machine: torch.mm GFLOP/s on large square float32 matrices, 1 and 2 threads;
- sampling: points/s at T = 15 for n = 1e3, 1e5, 1e6, FLOPs per point, achieved GFLOP/s
  as a fraction of the measured peak, beside the authors' network size;
- training: points·steps/s, and time to quality: wall seconds of training (evaluation
  excluded) until the held-out energy-distance ratio on pinwheel is <= 3;
- memory: peak RSS of `alternators sample -n 10000000 --format npy -o FILE` (and of 1e6,
  to show memory flat in n).

    python benchmarks/speed.py [--quick]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alternators_cli import engine  # noqa: E402
from alternators_cli.allocator import reuse_freed_memory  # noqa: E402
from alternators_cli.data import draw_builtin  # noqa: E402
from alternators_cli.metrics import energy_distance  # noqa: E402
from alternators_cli.model import Alternator, flops_per_point, parameter_counts  # noqa: E402
from alternators_cli.normalize import Normalizer  # noqa: E402
from alternators_cli.settings import DistributionSettings  # noqa: E402
from alternators_cli.trainer import Trainer  # noqa: E402
from alternators_cli.training_data import TrainingData  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from quality import write_section  # noqa: E402

EVAL_N = 5000


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_peak(threads: int, sizes=(256, 512, 1024, 2048)) -> tuple[float, int]:
    """The best median torch.mm GFLOP/s over square float32 sizes, and that size."""
    torch.set_num_threads(threads)
    best = (0.0, 0)
    for size in sizes:
        a, b = torch.randn(size, size), torch.randn(size, size)
        seconds = median_time(lambda a=a, b=b: torch.mm(a, b), max(7, int(2e9 / size**3)))
        best = max(best, (2 * size**3 / seconds / 1e9, size))
    return best


def sampling_rate(model: Alternator, n: int) -> float:
    normalizer = Normalizer(mean=torch.zeros(2).numpy(), scale=torch.ones(2).numpy())

    def run():
        for _ in engine.sample_chunks(model, normalizer, n, seed=0):
            pass

    seconds = median_time(run, 3 if n <= 100_000 else 1)
    return n / seconds


def time_to_quality(target: float = 3.0, limit_s: float = 300.0) -> tuple[float | None, int]:
    settings = DistributionSettings(seed=0, device="cpu")
    data = TrainingData("pinwheel", 2, ["x0", "x1"], True)
    trainer = Trainer(settings, data, torch.device("cpu"))
    reference = draw_builtin("pinwheel", EVAL_N, 4242)
    floor = statistics.mean(
        energy_distance(draw_builtin("pinwheel", EVAL_N, 100 + i),
                        draw_builtin("pinwheel", EVAL_N, 200 + i))
        for i in range(3)
    )
    state = {"train_s": 0.0, "hit": None}
    tick = [time.perf_counter()]

    def on_epoch(report) -> bool:
        state["train_s"] += time.perf_counter() - tick[0]
        if report.epoch % 5 == 0:
            pts = engine.sample(trainer.sampling_model(), trainer.normalizer, EVAL_N, seed=1)
            if energy_distance(pts, reference) / floor <= target:
                state["hit"] = state["train_s"]
                return False
        tick[0] = time.perf_counter()
        return state["train_s"] < limit_s

    trainer.run(on_epoch)
    return state["hit"], trainer.epoch


def training_rate(settings: DistributionSettings) -> float:
    data = TrainingData("pinwheel", 2, ["x0", "x1"], True)
    trainer = Trainer(settings.model_copy(update={"epochs": 3}), data, torch.device("cpu"))
    rates = []
    trainer.run(lambda r: rates.append(r.points_per_second))
    return statistics.median(rates[1:])


def peak_rss_mb(n: int) -> tuple[float, float]:
    """Peak RSS (MB) and wall seconds of the CLI writing n samples as .npy."""
    ckpt = ROOT / "benchmarks" / "out" / "speed-model.pt"
    alt = ROOT / ".venv" / "bin" / "alternators"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "big.npy"
        script = (
            "import resource, subprocess, sys, time; t = time.perf_counter(); "
            "subprocess.run(sys.argv[1:], check=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
            "time.perf_counter() - t)"
        )
        cmd = [sys.executable, "-c", script, str(alt), "sample", "-c", str(ckpt), "-n", str(n),
               "--format", "npy", "-o", str(out)]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        rss_kb, seconds = done.stdout.split()
    return int(rss_kb) / 1024, float(seconds)


def ensure_checkpoint() -> None:
    ckpt = ROOT / "benchmarks" / "out" / "speed-model.pt"
    if ckpt.exists():
        return
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    alt = ROOT / ".venv" / "bin" / "alternators"
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [str(alt), "train", "pinwheel", "--epochs", "1", "--out", tmp, "--overwrite"]
        subprocess.run(cmd, check=True, capture_output=True)
        Path(tmp, "model.pt").replace(ckpt)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip n = 1e6 and the 1e7 RSS run")
    args = parser.parse_args()
    reuse_freed_memory()  # as `alternators train` does
    rows = []
    measured = {t: matmul_peak(t) for t in (1, 2)}
    peak = {t: max(v[0] for v in measured.values()) if t == 2 else measured[1][0]
            for t in (1, 2)}  # 2 threads can do at least what 1 does
    torch.set_num_threads(2)
    rows.append(f"| machine | torch.mm, best of square float32 256..2048 | 1 thread "
                f"{measured[1][0]:.1f} GFLOP/s (n = {measured[1][1]}), 2 threads "
                f"{measured[2][0]:.1f} GFLOP/s (n = {measured[2][1]}); peak used: "
                f"{peak[2]:.1f} |")
    ours = DistributionSettings()
    variants = {  # measured side by side, for sampling and for training
        "ours (default)": ours,
        "ours, no linear skip (the default until 2026-11-26, evening)": DistributionSettings(
            linear_skip=False),
        "ours, SiLU, no skip (the default until 2026-11-26)": DistributionSettings(
            activation="silu", linear_skip=False),
        "ours, 16 OPN features": DistributionSettings(opn_fourier_features=16),
        "ours, STN features only": DistributionSettings(opn_fourier_features=0),
        "ours, no Fourier features": DistributionSettings(fourier_features=0,
                                                          opn_fourier_features=0),
    }
    configs = {label: v for label, v in variants.items()}
    configs["authors' size (hidden 128, 2 layers, T 15, SiLU)"] = DistributionSettings(
        hidden=128, layers=2, fourier_features=0, opn_fourier_features=0, activation="silu",
        linear_skip=False,
    )
    sizes = [1_000, 100_000] + ([] if args.quick else [1_000_000])
    for label, config in configs.items():
        model = Alternator(2, config).eval()
        flops = flops_per_point(model)
        params = parameter_counts(model)["total"]
        for n in sizes:
            rate = sampling_rate(model, n)
            gflops = rate * flops / 1e9
            rows.append(
                f"| sample {label}, {params:,} params | n = {n:,} | {rate:,.0f} points/s, "
                f"{flops / 1e3:.0f} kFLOP/point, {gflops:.1f} GFLOP/s = "
                f"{100 * gflops / peak[2]:.0f}% of peak |"
            )
    for label, settings in variants.items():
        rate = training_rate(settings)
        rows.append(f"| train, {label} | batch {settings.batch_size}, T {settings.steps} | "
                    f"{rate:,.0f} points·steps/s |")
    hit, epochs = time_to_quality()
    rows.append(
        f"| time to quality | pinwheel, energy ratio <= 3 (n = {EVAL_N:,}, checked every 5 "
        "epochs, evaluation time excluded) | "
        + (f"{hit:.1f} s of training ({epochs} epochs) |" if hit is not None
           else f"not reached in {epochs} epochs |")
    )
    ensure_checkpoint()
    for n in ([1_000_000] if args.quick else [1_000_000, 10_000_000]):
        rss, seconds = peak_rss_mb(n)
        rows.append(f"| memory | `sample -n {n:,} --format npy -o FILE` | peak RSS {rss:.0f} MB, "
                    f"{seconds:.1f} s |")
    header = [
        f"Machine: {platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads unless stated; medians of repeated runs.",
        "",
        "| what | setting | result |",
        "|---|---|---|",
    ]
    table = "\n".join(header + rows)
    print(table)
    write_section(ROOT / "docs" / "benchmarks.md", "speed", table)


if __name__ == "__main__":
    main()
