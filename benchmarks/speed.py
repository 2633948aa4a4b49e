"""Speed against the machine's own limit (`make bench-speed`), in one run, one table.

- the machine: torch.mm GFLOP/s on large square float32 matrices, 1 and 2 threads;
- sampling: points/s at the default T for n = 1e3, 1e5, 1e6, FLOPs per point, achieved
  GFLOP/s as a fraction of the measured peak, beside variants of the default and the
  authors' network size;
- training: points·steps/s, and time to quality: wall seconds of training (evaluation
  excluded) until the held-out energy-distance ratio on pinwheel is <= 3;
- memory: peak RSS of `alternators sample -n 10000000 --format npy -o FILE` (and of 1e6,
  to show memory flat in n).

    python -m benchmarks.speed [--quick]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks import common

EVAL_N = 5000

# Measured side by side with the default, for sampling and for training: each one setting
# (or a group) away from it.
VARIANTS = {
    "ours (default)": {},
    "ours, no linear skip": {"linear_skip": False},
    "ours, SiLU, no linear skip": {"activation": "silu", "linear_skip": False},
    "ours, 16 OPN features": {"opn_fourier_features": 16},
    "ours, STN features only": {"opn_fourier_features": 0},
    "ours, no Fourier features": {"fourier_features": 0, "opn_fourier_features": 0},
}
AUTHORS = ("authors' size (hidden 128, 2 layers, T 15, SiLU)", {
    "hidden": 128, "layers": 2, "steps": 15, "fourier_features": 0, "opn_fourier_features": 0,
    "activation": "silu", "linear_skip": False})


def sampling_rate(model, n: int) -> float:
    normalizer = common.identity_normalizer(2)

    def run():
        for _ in common.sample_chunks(model, normalizer, n, seed=0):
            pass

    seconds = common.median_time(run, 3 if n <= 100_000 else 1)
    return n / seconds


def time_to_quality(target: float = 3.0, limit_s: float = 300.0) -> tuple[float | None, int]:
    trainer = common.builtin_trainer("pinwheel", 0, {})
    reference = common.draw_builtin("pinwheel", EVAL_N, 4242)
    floor = statistics.mean(
        common.energy_distance(common.draw_builtin("pinwheel", EVAL_N, 100 + i),
                               common.draw_builtin("pinwheel", EVAL_N, 200 + i))
        for i in range(3)
    )
    state = {"train_s": 0.0, "hit": None}
    tick = [time.perf_counter()]

    def on_epoch(report) -> bool:
        state["train_s"] += time.perf_counter() - tick[0]
        if report.epoch % 5 == 0:
            pts = common.sample(trainer.sampling_model(), trainer.normalizer, EVAL_N, seed=1)
            if common.energy_distance(pts, reference) / floor <= target:
                state["hit"] = state["train_s"]
                return False
        tick[0] = time.perf_counter()
        return state["train_s"] < limit_s

    trainer.run(on_epoch)
    return state["hit"], trainer.epoch


def training_rate(overrides: dict) -> float:
    trainer = common.builtin_trainer("pinwheel", 0, {**overrides, "epochs": 3})
    rates = []
    trainer.run(lambda r: rates.append(r.points_per_second))
    return statistics.median(rates[1:])


def peak_rss_mb(ckpt: Path, n: int) -> tuple[float, float]:
    """Peak RSS (MB) and wall seconds of the CLI writing n samples as .npy."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "big.npy"
        script = (
            "import resource, subprocess, sys, time; t = time.perf_counter(); "
            "subprocess.run(sys.argv[1:], check=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
            "time.perf_counter() - t)"
        )
        cmd = [sys.executable, "-c", script, *common.cli_command(), "sample", "-c", str(ckpt),
               "-n", str(n), "--format", "npy", "-o", str(out)]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True,
                              env=common.cli_env())
        rss_kb, seconds = done.stdout.split()
    return int(rss_kb) / 1024, float(seconds)


def main() -> None:
    host = common.Host()
    parser = common.argument_parser(__spec__, __doc__)
    parser.add_argument("--quick", action="store_true", help="skip n = 1e6 and the 1e7 RSS run")
    args = parser.parse_args()
    common.reuse_freed_memory()  # as `alternators train` does
    rows = []
    measured = {t: common.matmul_peak(t) for t in (1, 2)}
    peak = {t: max(v[0] for v in measured.values()) if t == 2 else measured[1][0]
            for t in (1, 2)}  # 2 threads can do at least what 1 does
    torch.set_num_threads(2)
    rows.append(f"| machine | torch.mm, best of square float32 256..2048 | 1 thread "
                f"{measured[1][0]:.1f} GFLOP/s (n = {measured[1][1]}), 2 threads "
                f"{measured[2][0]:.1f} GFLOP/s (n = {measured[2][1]}); peak used: "
                f"{peak[2]:.1f} |")
    configs = {label: overrides for label, overrides in [*VARIANTS.items(), AUTHORS]}
    sizes = [1_000, 100_000] + ([] if args.quick else [1_000_000])
    for label, overrides in configs.items():
        model = common.network(2, common.settings(**overrides))
        flops = common.flops(model)
        params = common.parameter_count(model)
        for n in sizes:
            rate = sampling_rate(model, n)
            gflops = rate * flops / 1e9
            rows.append(
                f"| sample {label}, {params:,} params | n = {n:,} | {rate:,.0f} points/s, "
                f"{flops / 1e3:.0f} kFLOP/point, {gflops:.1f} GFLOP/s = "
                f"{100 * gflops / peak[2]:.0f}% of peak |"
            )
    for label, overrides in VARIANTS.items():
        settings = common.settings(**overrides)
        rate = training_rate(overrides)
        rows.append(f"| train, {label} | batch {settings.batch_size}, T {settings.steps} | "
                    f"{rate:,.0f} points·steps/s |")
    hit, epochs = time_to_quality()
    rows.append(
        f"| time to quality | pinwheel, energy ratio <= 3 (n = {EVAL_N:,}, checked every 5 "
        "epochs, evaluation time excluded) | "
        + (f"{hit:.1f} s of training ({epochs} epochs) |" if hit is not None
           else f"not reached in {epochs} epochs |")
    )
    with tempfile.TemporaryDirectory() as tmp:  # a 1-epoch model: the size is the default's
        common.run_cli("train", "pinwheel", "--epochs", "1", "--out", tmp, "--overwrite",
                       "--device", "cpu")
        for n in ([1_000_000] if args.quick else [1_000_000, 10_000_000]):
            rss, seconds = peak_rss_mb(Path(tmp) / "model.pt", n)
            rows.append(f"| memory | `sample -n {n:,} --format npy -o FILE` | peak RSS "
                        f"{rss:.0f} MB, {seconds:.1f} s |")
    header = [
        host.line(2, peak[2]),
        "",
        f"{torch.get_num_threads()} threads unless stated; medians of repeated runs.",
        "",
        "| what | setting | result |",
        "|---|---|---|",
    ]
    table = "\n".join(header + rows)
    print(table)
    common.write_section(common.BENCHMARKS_MD, "speed", table)


if __name__ == "__main__":
    main()
