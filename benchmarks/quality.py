"""Sample quality at default settings, beside DDPM and flow matching (`make bench-quality`).

For each built-in 2-D set and seed: train the alternator at the default settings, sample
n = 5000 points, and score them against fresh reference draws as ratios to the floor
(SPEC section 5), averaged over --eval-draws independent evaluations (default 10: one
ratio at n = 5000 is a noisy number). The peers (benchmarks/peers.py) sample in the issue's
15 steps whatever the alternator's T, with a comparable network, the same normalisation,
batch size and number of optimiser steps.
Writes a Markdown table to docs/benchmarks.md (its quality section), JSON beside it, the
gallery docs/gallery.png, and one GIF of the cycle per data set (docs/cycle-NAME.gif).
The training-time target is judged by one more default training run (pinwheel, seed 0) at
--threads, timed alone after the others, beside the host's matmul peak; lanes run in
parallel pass --no-timed-run.

    python -m benchmarks.quality [--sets pinwheel,checkerboard] [--seeds 3] [--no-peers]
                                 [--no-timed-run]

Every run's scores, points and checkpoints are kept in
benchmarks/out/quality/<fingerprint of the settings>/ (the peers' in
benchmarks/out/quality/peers-<fingerprint of the settings they depend on>/), under each
set's name and a hash of a fixed draw of it, and reused: an interrupted benchmark resumes
where it stopped, and sets can run as separate processes (`--sets 2spirals`), then be
assembled by one more call with all of them. A kept alternator run with fewer evaluation
draws than asked for is topped up from its checkpoint; a peer's is rerun (no model is kept).
`--fresh` ignores what is kept.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks import common, peers

N_EVAL = 5000
TARGET_RATIO = 1.5
TARGET_TRAIN_SECONDS = 180
# The peers sample in the 15 steps whatever the alternator's T (the default's 15,
# or a user's --steps).
PEER_SAMPLING_STEPS = 15
# What a peer's run depends on: its network is sized to the alternator's parameter count,
# and it trains on the alternator's batch stream for as many optimiser steps. Settings only
# the alternator reads (lr, ema, the noise schedule, the objective, its own T) are not in
# its key, so changing one of them does not retrain the peers.
PEER_SETTINGS = ("layers", "epochs", "epoch_size", "batch_size")


def eight_gaussians_modes(points: np.ndarray) -> int:
    """How many of the 8 modes hold at least a quarter of their fair share of points."""
    angles = np.arange(8) * np.pi / 4
    centres = 4 * np.stack([np.cos(angles), np.sin(angles)], 1) / 1.414
    nearest = np.argmin(((points[:, None] - centres[None]) ** 2).sum(-1), axis=1)
    close = np.min(np.sqrt(((points[:, None] - centres[None]) ** 2).sum(-1)), axis=1) < 1.2
    counts = np.bincount(nearest[close], minlength=8)
    return int((counts >= 0.25 * len(points) / 8).sum())


def checkerboard_inside(points: np.ndarray) -> float:
    """Share of points inside the 8 filled squares: a local check that the global ratios
    can hide (blurred edges cost a ratio little). The data itself scores 1."""
    cell = np.floor(points / 2)  # squares of side 2 on [-4, 4)^2
    on_board = (np.abs(points) < 4).all(axis=1)
    filled = (cell.sum(axis=1) % 2) == 0
    return float((on_board & filled).mean())


def train_timed(name: str, seed: int, overrides: dict):
    """A trained alternator's trainer and its training wall time in seconds."""
    trainer = common.builtin_trainer(name, seed, overrides)
    start = time.perf_counter()
    trainer.run()
    return trainer, time.perf_counter() - start


def run_alternator(name: str, seed: int, save_to: Path | None, overrides: dict):
    trainer, train_s = train_timed(name, seed, overrides)
    model = trainer.sampling_model()
    start = time.perf_counter()
    points = common.sample(model, trainer.normalizer, N_EVAL, seed=10_000 + seed)
    sample_s = time.perf_counter() - start
    if save_to is not None:
        common.save_trained(trainer, save_to, train_s)
    return points, train_s, sample_s, trainer, alternator_draw(model, trainer.normalizer, seed)


def alternator_draw(model, normalizer, seed: int):
    def draw(j: int) -> np.ndarray:  # the j-th extra evaluation draw
        return common.sample(model, normalizer, N_EVAL, seed=10_000 + seed + 1000 * j)

    return draw


def peer_width(settings) -> int:
    """The peers' hidden width: the one whose MLP has about the alternator's parameters."""
    budget = common.parameter_count(common.network(2, settings))
    return peers.hidden_for_params(2, budget, settings.layers)


def run_peer(kind: str, name: str, seed: int, like, opt_steps: int):
    settings = like.settings
    normalizer = like.normalizer
    hidden = peer_width(settings)

    def batches():
        # The same stream of fresh, normalised batches the alternator trains on.
        epoch = batches.epoch
        batches.epoch += 1
        yield from like.batches(epoch)

    batches.epoch = 0
    start = time.perf_counter()
    net = peers.train_peer(kind, batches, 2, hidden, settings.layers, 1e-3, opt_steps, seed)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    x = peers.sample_peer(kind, net, N_EVAL, 2, PEER_SAMPLING_STEPS, 10_000 + seed)
    sample_s = time.perf_counter() - start
    points = common.decode(normalizer, x)

    def draw(j: int) -> np.ndarray:  # the j-th extra evaluation draw
        y = peers.sample_peer(
            kind, net, N_EVAL, 2, PEER_SAMPLING_STEPS, 10_000 + seed + 1000 * j)
        return common.decode(normalizer, y)

    return points, train_s, sample_s, draw


def timed_default_run(threads: int, overrides: dict) -> dict:
    """The training-time target's own measure: one default training run of pinwheel, seed 0,
    at `threads` threads and alone (the lanes of 1-thread runs, two at once, time something
    else), beside the host's matmul peak at that moment: the host is shared, and its speed
    varies by 2x from day to day."""
    torch.set_num_threads(threads)
    peak, _ = common.matmul_peak(threads)
    _, train_s = train_timed("pinwheel", 0, overrides)
    return {"set": "pinwheel", "seed": 0, "threads": threads, "train_s": train_s,
            "matmul_gflops": peak}


def fingerprint(overrides: dict) -> str:
    """The alternator's key: every setting (less the seed) and the sample size. A kept
    result with fewer evaluation draws than asked for is topped up, not rerun."""
    return common.fingerprint({"settings": common.settings_key(**overrides), "n": N_EVAL})


def peer_fingerprint(overrides: dict) -> str:
    """The peers' key: the settings they depend on, their sampling steps, their width and
    the sample size. The width is what `run_peer` trains (`peer_width`), not the
    alternator's parameter count itself: a few parameters more leave the peers unchanged."""
    settings = common.settings(**overrides)
    depends_on = {k: getattr(settings, k) for k in PEER_SETTINGS}
    depends_on["steps"] = PEER_SAMPLING_STEPS
    return "peers-" + common.fingerprint(
        {"settings": depends_on, "hidden": peer_width(settings), "n": N_EVAL})


def data_fingerprint(name: str) -> str:
    """A hash of a fixed draw of the set: it changes whenever the set's generator does."""
    return common.array_fingerprint(common.draw_builtin(name, 1000, seed=0))


def kept_name(name: str) -> str:
    """The name a set's runs are kept under: its own and its data's hash, so a change to a
    generator never reuses runs trained and scored on the set as it was."""
    return f"{name}-data{data_fingerprint(name)}"


class Kept:
    """Scores and points per (model, set, seed), kept on disk between runs."""

    def __init__(self, root: Path, key: str, fresh: bool):
        self.dir = root / key
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cache = common.Cache(self.dir, fresh)

    def get(self, model: str, name: str, seed: int) -> tuple[dict, np.ndarray | None] | None:
        row = self.cache.get(f"{model}-{name}-seed{seed}")
        return None if row is None else (row, self.cache.array(f"{model}-{name}-seed{seed}"))

    def put(self, model: str, name: str, seed: int, row: dict, points: np.ndarray) -> None:
        self.cache.put(f"{model}-{name}-seed{seed}", row, points)


def score(points: np.ndarray, name: str, seed: int) -> dict:
    r = common.score_builtin(points, name, N_EVAL, seed=100 + seed)
    out = {k: r[k]["ratio"] for k in ("energy_distance", "mmd", "sliced_w2")}
    if name == "8gaussians":
        out["modes"] = eight_gaussians_modes(points)
    if name == "checkerboard":
        out["inside"] = checkerboard_inside(points)
    return out


def score_draws(first, draw, name: str, seed: int, draws: int, kept: dict | None = None) -> dict:
    """Mean scores over `draws` independent evaluations (fresh samples and fresh reference
    draws each): one ratio at n = 5000 is noisy (docs/ablations.md), their mean is not.
    Draw 0 is the points `first`; draw j >= 1 is `draw(j)`. Given a `kept` row scored on
    fewer draws, only the missing ones are scored and merged in, with the same seeds a full
    run would use."""
    done = len(kept["energy_draws"]) if kept else 0
    scores = [] if done else [score(first, name, seed)]
    scores += [score(draw(j), name, seed + 1000 * j) for j in range(max(done, 1), draws)]
    out = {}
    for k in scores[0]:
        values = [s[k] for s in scores]
        if k == "modes":  # modes covered: the worst draw
            out[k] = min(values + ([kept[k]] if done else []))
        else:  # every ratio and share: the mean over all draws, kept ones included
            out[k] = ((done * kept[k] if done else 0) + sum(values)) / (done + len(values))
    out["energy_draws"] = (kept["energy_draws"] if done else []) + [
        s["energy_distance"] for s in scores]
    return out


def summarise(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def main() -> None:
    host = common.Host()
    parser = common.argument_parser(__spec__, __doc__)
    parser.add_argument("--sets", default=",".join(common.required_sets()))
    parser.add_argument("--seeds", type=common.positive, default=3)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--threads", type=common.positive, default=2)
    parser.add_argument("--out", type=Path, default=common.DOCS)
    parser.add_argument("--epochs", type=common.positive,
                        help="override the default (smoke tests only)")
    parser.add_argument("--fresh", action="store_true", help="ignore kept results")
    parser.add_argument("--eval-draws", type=common.positive, default=10,
                        help="independent evaluations averaged per model")
    parser.add_argument("--timed-run", action=argparse.BooleanOptionalAction, default=True,
                        help="time one default training run at --threads, alone, for the "
                             "training-time target (--no-timed-run in parallel lanes)")
    args = parser.parse_args()
    common.reuse_freed_memory()  # once for the process, as `alternators train` does
    overrides = {} if args.epochs is None else {"epochs": args.epochs}
    torch.set_num_threads(args.threads)
    sets = [s for s in args.sets.split(",") if s]
    known = common.distribution_sets()
    unknown = [s for s in sets if s not in known]
    if unknown or not sets:
        parser.error(f"--sets: not built-in 2-D sets: {', '.join(unknown) or '(none given)'}; "
                     f"choose from {', '.join(known)}")
    try:
        args.out.mkdir(parents=True, exist_ok=True)  # a fresh --out: GIFs are written mid-run
    except OSError as err:
        parser.error(f"--out: cannot create directory {args.out}: {err.strerror}")
    models = ["alternator"] + ([] if args.no_peers else ["ddpm", "cfm"])
    results: dict = {m: {s: [] for s in sets} for m in models}
    gallery: dict = {}
    kept = Kept(common.OUT / "quality", fingerprint(overrides), args.fresh)
    # Built only when the peers run: Kept creates its directory.
    kept_peers = None if args.no_peers else Kept(
        common.OUT / "quality", peer_fingerprint(overrides), args.fresh)
    for name in sets:
        stem = kept_name(name)  # the set's data is part of its runs' key
        for seed in range(args.seeds):
            path = kept.dir / f"{stem}-seed{seed}.pt"
            trainer = None
            for model in models:
                store = kept if model == "alternator" else kept_peers
                found = store.get(model, stem, seed)
                short = found is not None and len(found[0]["energy_draws"]) < args.eval_draws
                if short and model == "alternator" and path.exists():
                    # Top up the evaluation draws from the kept checkpoint: no retraining.
                    row, pts = found
                    draw = alternator_draw(*common.load_model(path), seed)
                    row = {**row, **score_draws(pts, draw, name, seed, args.eval_draws, row)}
                    kept.put(model, stem, seed, row, pts)
                    print(f"{name} seed {seed} {model}: topped up {row}", file=sys.stderr,
                          flush=True)
                elif found is not None and not short:
                    row, pts = found
                    print(f"{name} seed {seed} {model}: kept {row}", file=sys.stderr, flush=True)
                else:  # peers keep no model: a short row is rerun
                    if model == "alternator":
                        pts, tr_s, sa_s, trainer, draw = run_alternator(name, seed, path, overrides)
                    else:
                        if trainer is None:  # the alternator was kept: rebuild its data only
                            trainer = common.builtin_trainer(name, seed, overrides)
                        opt_steps = trainer.settings.epochs * trainer.batches_per_epoch()
                        pts, tr_s, sa_s, draw = run_peer(model, name, seed, trainer, opt_steps)
                    scores = score_draws(pts, draw, name, seed, args.eval_draws)
                    row = {**scores, "train_s": tr_s, "sample_s": sa_s,
                           "threads": torch.get_num_threads()}
                    store.put(model, stem, seed, row, pts)
                    print(f"{name} seed {seed} {model}: {row}", file=sys.stderr, flush=True)
                results[model][name].append(row)
                if seed == 0:
                    gallery[(name, model)] = pts
        animate(kept.dir / f"{stem}-seed0.pt", args.out / f"cycle-{name}.gif")

    timed = timed_default_run(args.threads, overrides) if args.timed_run else None
    host_line = host.line(args.threads, timed["matmul_gflops"] if timed else None)
    table = markdown(results, sets, models, args.seeds, overrides, timed, host_line)
    print(table)
    common.write_section(args.out / "benchmarks.md", "quality", table)
    common.write_json(args.out / "benchmarks-quality.json",
                      {**results, "timed_default_run": timed, "host": host_line})
    draw_gallery(gallery, sets, models, args.out / "gallery.png")


def markdown(results: dict, sets: list[str], models: list[str], seeds: int,
             overrides: dict, timed: dict | None = None, host: str | None = None) -> str:
    settings = common.settings(**overrides)
    threads = distinct(results, lambda r: r.get("threads"))
    draws = distinct(results, lambda r: len(r.get("energy_draws", [0])))
    lines = [] if host is None else [host, ""]
    given = ", ".join(f"{k} {v}" for k, v in sorted(overrides.items()))
    lines += [
        f"{'Default settings' if not given else f'Settings: the defaults but {given}'} "
        f"(epochs {settings.epochs}, T = {settings.steps} (the peers sample "
        f"in {PEER_SAMPLING_STEPS} steps), hidden {settings.hidden} x {settings.layers}, "
        f"{settings.activation.value}, linear skip {'on' if settings.linear_skip else 'off'}, "
        f"Fourier features: STN {settings.fourier_features}, OPN "
        f"{settings.opn_fourier_features}), {seeds} seeds (mean ± sd), n = {N_EVAL}, "
        f"{draws} evaluation draw(s) per model; each run trained at {threads} thread(s) "
        "(the `train s` column). Ratios are metric / floor: 1 is the noise floor.",
        "",
        "| data | model | energy ratio | MMD ratio | sliced-W2 ratio | train s | sample s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in sets:
        for m in models:
            rows = results[m][name]
            extra = ""
            if name == "8gaussians":
                extra = f" ({min(r['modes'] for r in rows)}/8 modes)"
            inside = [r["inside"] for r in rows if "inside" in r]
            if inside:
                extra = f" ({100 * statistics.mean(inside):.1f}% in the squares)"
            lines.append(
                f"| {name} | {m} | {summarise([r['energy_distance'] for r in rows])}{extra} | "
                f"{summarise([r['mmd'] for r in rows])} | "
                f"{summarise([r['sliced_w2'] for r in rows])} | "
                f"{statistics.mean(r['train_s'] for r in rows):.1f} | "
                f"{statistics.mean(r['sample_s'] for r in rows):.3f} |"
            )
    lines += ["", "Targets:"]
    alt = {s: statistics.mean(r["energy_distance"] for r in results["alternator"][s])
           for s in sets}
    for s in sets:
        ok = alt[s] <= TARGET_RATIO
        lines.append(f"- {s}: energy ratio {alt[s]:.2f} (target <= {TARGET_RATIO}): "
                     f"{'met' if ok else 'MISSED'}")
    if timed is None:
        lines.append("- default training time: not measured (--no-timed-run); the train s "
                     "column times runs at the threads above, not the target's measure")
    else:
        ok = timed["train_s"] <= TARGET_TRAIN_SECONDS
        lines.append(
            f"- default training, {timed['set']} seed {timed['seed']} at {timed['threads']} "
            f"thread(s), alone on the host (matmul peak {timed['matmul_gflops']:.1f} GFLOP/s "
            f"then): {timed['train_s']:.1f}s (target <= {TARGET_TRAIN_SECONDS}s): "
            f"{'met' if ok else 'MISSED'}")
    if "ddpm" in models:
        beat = [s for s in sets if alt[s] < statistics.mean(
            r["energy_distance"] for r in results["ddpm"][s])]
        lines.append(f"- better than DDPM-{PEER_SAMPLING_STEPS} on {len(beat)}/{len(sets)} "
                     f"sets: {'met' if len(beat) == len(sets) else 'MISSED'}")
        cfm = [s for s in sets if alt[s] <= statistics.mean(
            r["energy_distance"] for r in results["cfm"][s])]
        need = min(3, len(sets))
        lines.append(f"- at least as good as flow matching-{PEER_SAMPLING_STEPS} on "
                     f"{len(cfm)}/{len(sets)} sets "
                     f"(target {need}): {'met' if len(cfm) >= need else 'MISSED'}")
    return "\n".join(lines)


def distinct(results: dict, value) -> str:
    """The distinct values of value(row) over every row, e.g. "1" or "1/2"."""
    seen = {value(r) for sets in results.values() for rows in sets.values() for r in rows}
    return "/".join(str(v) for v in sorted(seen, key=str))


def animate(ckpt: Path, gif: Path) -> None:
    common.run_cli("animate", "-c", str(ckpt), "-o", str(gif), "-n", "3000", "--seed", "0")


def draw_gallery(gallery: dict, sets: list[str], models: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = ["data", *models]
    fig, axes = plt.subplots(len(sets), len(cols), figsize=(2.6 * len(cols), 2.6 * len(sets)),
                             dpi=80, squeeze=False)
    for i, name in enumerate(sets):
        data = common.draw_builtin(name, N_EVAL, 777)
        xlim, ylim = common.axis_limits(data)
        for j, col in enumerate(cols):
            pts = data if col == "data" else gallery[(name, col)]
            ax = axes[i][j]
            ax.scatter(pts[:, 0], pts[:, 1], s=1, alpha=0.4, linewidths=0,
                       color="tab:gray" if col == "data" else "tab:blue")
            ax.set_xlim(*xlim)
            ax.set_ylim(*ylim)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_aspect("equal")
            if i == 0:
                ax.set_title(col)
            if j == 0:
                ax.set_ylabel(name)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    main()
