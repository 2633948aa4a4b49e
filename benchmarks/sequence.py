"""Time series at default settings (`make bench-sequence`).

For each seed: `alternators train lorenz` at the defaults (the real command line, timed),
whose final evaluation scores fresh Lorenz trajectories: latent recovery, imputation at
10/50/90 % missing (scattered steps and blocks of 10) against linear interpolation, and
forecasts at horizon 20 against persistence. Then the same for a user's file: a noisy
two-season series written to CSV and trained with `--kind sequence`, where the
seasonal-naive baseline applies. Writes the tables into docs/benchmarks.md (its
sequence section), JSON to docs/benchmarks-sequence.json and docs/sequence-lorenz.gif.

    python -m benchmarks.sequence [--seeds 3] [--no-file]
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import numpy as np

from benchmarks import common

OUT = common.OUT / "sequence"
TARGETS = {"latent_correlation": 0.9, "block50_ratio": 0.7, "crps_ratio": 0.8}
TARGET_TRAIN_SECONDS = 300  # "within a few minutes"


def train(data: str, out: Path, seed: int, extra: list[str]) -> tuple[dict, float, float]:
    """`alternators train DATA --json`: its report, and the command's wall and CPU seconds."""
    done = common.run_cli("train", data, "--seed", str(seed), "--out", str(out),
                          "--overwrite", "--json", *extra)
    return json.loads(done.stdout), done.wall_s, done.cpu_s


def seasonal_csv(path: Path, length: int = 6000, seed: int = 0) -> None:
    """Three channels mixing a 24-step and a 168-step season with AR(1) noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    noise = np.zeros((length, 3))
    for i in range(1, length):
        noise[i] = 0.8 * noise[i - 1] + 0.2 * rng.standard_normal(3)
    daily = np.sin(2 * np.pi * t / 24)[:, None] * np.array([1.0, 0.6, -0.8])
    weekly = np.sin(2 * np.pi * t / 168)[:, None] * np.array([0.5, -1.0, 0.3])
    values = 10 + daily + weekly + noise
    header = "load,temperature,price"
    np.savetxt(path, values, delimiter=",", header=header, comments="", fmt="%.5f")


def block50(result: dict) -> float:
    row = next(r for r in result["imputation"] if r["pattern"] == "blocks" and r["missing"] == 0.5)
    return row["mae_ratio"]


def mean_sd(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def main() -> None:
    host = common.Host()
    parser = common.argument_parser(__spec__, __doc__)
    parser.add_argument("--seeds", type=common.positive, default=3)
    parser.add_argument("--no-file", action="store_true", help="Skip the CSV series.")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    runs = []
    for seed in range(args.seeds):
        result, seconds, cpu = train("lorenz", OUT / f"lorenz-{seed}", seed, [])
        runs.append({"seed": seed, "train_seconds": seconds, "train_cpu_seconds": cpu,
                     **result})
        print(f"lorenz seed {seed}: {seconds:.0f}s, latent r {result['latent_correlation']}, "
              f"block-50 ratio {block50(result):.3f}, "
              f"CRPS ratio {result['forecast']['crps_ratio']:.3f}", file=sys.stderr)
    common.run_cli("animate", "-c", str(OUT / "lorenz-0" / "model.pt"),
                   "-o", str(common.DOCS / "sequence-lorenz.gif"))

    file_run = None
    if not args.no_file:
        csv = OUT / "seasonal.csv"
        seasonal_csv(csv)
        result, seconds, cpu = train(str(csv), OUT / "seasonal-0", 0, ["--kind", "sequence"])
        file_run = {"train_seconds": seconds, "train_cpu_seconds": cpu, **result}

    d = common.settings(kind="sequence")
    lines = [
        host.line(),
        "",
        "`alternators train lorenz` at default settings "
        f"(window {d.window}, hidden {d.hidden} x {d.layers}, latent {d.latent_dim}, "
        f"{d.epochs} epochs of {d.epoch_size} windows), {args.seeds} "
        "seeds (mean ± sd); scored on 64 fresh trajectories of 84 steps, 50 completions "
        "per gap, 100 forecast paths.",
        "",
        "| target | result | goal | |",
        "|---|---|---|---|",
    ]
    for k in range(3):
        values = [r["latent_correlation"][k] for r in runs]
        lines.append(f"| latent recovery r, state dim {k + 1} | {mean_sd(values)} | ≥ 0.9 | "
                     f"{verdict(min(values) >= TARGETS['latent_correlation'])} |")
    ratios = [block50(r) for r in runs]
    lines.append(f"| imputation MAE, 50 % in blocks of 10 / linear interp. | {mean_sd(ratios)} "
                 f"| ≤ 0.7 | {verdict(max(ratios) <= TARGETS['block50_ratio'])} |")
    crps = [r["forecast"]["crps_ratio"] for r in runs]
    lines.append(f"| forecast CRPS at horizon 20 / persistence | {mean_sd(crps)} | ≤ 0.8 | "
                 f"{verdict(max(crps) <= TARGETS['crps_ratio'])} |")
    secs = [r["train_seconds"] for r in runs]
    cpu = mean_sd([r["train_cpu_seconds"] for r in runs])
    lines.append(f"| training time at defaults (s, whole command) | {mean_sd(secs)} (CPU {cpu}) | "
                 f"≤ 300 (a few minutes) | {verdict(max(secs) <= TARGET_TRAIN_SECONDS)} |")
    lines += ["", "Imputation, every pattern (MAE; ratio to linear interpolation):", "",
              "| missing | pattern | alternator MAE | linear interp. MAE | ratio | 90 % band "
              "coverage |",
              "|---|---|---|---|---|---|"]
    for i, row in enumerate(runs[0]["imputation"]):
        mae = [r["imputation"][i]["mae"] for r in runs]
        lin = [r["imputation"][i]["linear_mae"] for r in runs]
        ratio = [r["imputation"][i]["mae_ratio"] for r in runs]
        cover = [r["imputation"][i]["band_coverage"] for r in runs]
        lines.append(f"| {row['missing']:.0%} | {row['pattern']} | {mean_sd(mae)} | "
                     f"{mean_sd(lin)} | {mean_sd(ratio)} | {mean_sd(cover)} |")
    lines += ["", "Forecast at horizon 20:", "", "| model | MAE | CRPS |", "|---|---|---|",
              f"| alternator | {mean_sd([r['forecast']['mae'] for r in runs])} | "
              f"{mean_sd([r['forecast']['crps'] for r in runs])} |",
              f"| persistence | {mean_sd([r['forecast']['persistence_mae'] for r in runs])} | "
              f"{mean_sd([r['forecast']['persistence_crps'] for r in runs])} |", "",
              "The forecasts' central 90 % band covers "
              f"{mean_sd([r['forecast']['band_coverage'] for r in runs])} of the truth at the "
              "horizon."]
    if file_run is not None:
        fc = file_run["forecast"]
        lines += ["", "A user's CSV (`benchmarks/out/sequence/seasonal.csv`: 3 channels, "
                  "seasons of 24 and 168 steps, AR(1) noise; last 10 % held out), trained "
                  f"with `--kind sequence` in {file_run['train_seconds']:.0f} s "
                  f"({file_run['train_cpu_seconds']:.0f} s CPU):", "",
                  "| model | MAE at horizon 20 | CRPS at horizon 20 |", "|---|---|---|",
                  f"| alternator | {fc['mae']:.3f} | {fc['crps']:.3f} |",
                  f"| persistence | {fc['persistence_mae']:.3f} | {fc['persistence_crps']:.3f} |"]
        if "seasonal_naive_mae" in fc:
            lines.append(f"| seasonal naive (season {fc['season']}, detected) | "
                         f"{fc['seasonal_naive_mae']:.3f} | {fc['seasonal_naive_crps']:.3f} |")
        row = block50(file_run)
        lines.append(f"\nImputation at 50 % in blocks: ratio to linear interpolation {row:.3f}.")
    body = "\n".join(lines)
    print(body)
    common.write_section(common.BENCHMARKS_MD, "sequence", body)
    common.write_json(common.DOCS / "benchmarks-sequence.json",
                      {"runs": runs, "file_run": file_run, "host": lines[0]})


if __name__ == "__main__":
    main()
