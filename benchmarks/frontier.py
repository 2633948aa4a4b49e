"""The quality-cost frontier: held-out energy ratio against sampling cost (`make bench-frontier`).

Alternators trained at T = 1, 2, 4, 8, 15 and the peers at their best (flow matching and a
DDPM), each model trained for the same CPU-second budget (--budget-s, one torch thread),
on each built-in 2-D set. The alternator trains at its default settings but T, for as many
epochs as a short pilot says fit the budget (and stops at the budget whatever the pilot
said). A peer (benchmarks/peers.py's TimeMLP, SiLU, --layers hidden layers) trains once per
(set, lr, width) with an EMA of its weights, warm-up + cosine lr and fresh data every step,
for as many steps as fit the same budget, and is then sampled at every budget: its number
of network evaluations (NFE) is the most whose FLOPs stay within the alternator's FLOPs per
point at that T (at least one). Flow matching samples with Euler, midpoint and Heun (two
evaluations a step), the DDPM with DDIM and DPM-Solver++ (2M), both from `diffusers`. A
peer's best (lr, width, sampler) at each budget is chosen on the mean of VALID_DRAWS
validation draws (n = 5000, their own seeds), then scored on --eval-draws fresh draws
(n = 5000) like the alternator: the same reference draws for every model, so two models'
scores pair draw by draw.

    python -m benchmarks.frontier [--sets pinwheel] [--budget-s 20] [--steps 1,2,4,8,15]
                                  [--lrs 1e-3,3e-3] [--widths 64,128] [--eval-draws 10]

--budget-s 0: the alternator's default training time, measured in the run (a pilot's CPU
seconds per epoch at T = 15 times the default epochs), for every model.
Each trained model's scores (and a peer's weights) are kept under
benchmarks/out/frontier/<fingerprint of the options>/ and reused: sets can run as separate
processes, then be assembled by one more call with all of them. `--fresh` ignores them.
Writes a table to docs/benchmarks.md (its frontier section), JSON beside it and the plot
docs/frontier.png.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks import common, peers

N_EVAL = 5000
N_VALID = 5000
VALID_DRAWS = 3  # one draw of 2000 picked Euler on 2spirals at 3.05 where Heun scored 1.32
PILOT_EPOCHS = 3
PILOT_STEPS = 30
PEER_BATCH = 500
PEER_EMA = 0.999
SAMPLERS = {"cfm": ("euler", "midpoint", "heun"), "ddpm": ("ddim", "dpm++")}
EVALS_PER_STEP = {"euler": 1, "midpoint": 2, "heun": 2, "ddim": 1, "dpm++": 1}
KIND_NAMES = {"alternator": "alternator", "alternatorpp": "alternator++", "cfm": "flow matching",
              "ddpm": "diffusion"}
VARIANTS = {"alternator": "alternator", "alternatorpp": "alternator++"}  # kind: --variant
TARGET_SETS = 3  # the target: lowest on >= 3 of 4 sets at every budget from T = 2


def float_list(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not numbers: {text!r}") from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"need positive numbers: {text!r}")
    return values


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not integers: {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"need integers >= 1: {text!r}")
    return sorted(set(values))


def non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be >= 0 (got {text})")
    return value


def parse_args(argv: list[str] | None = None):
    parser = common.argument_parser(__spec__ or _Spec, __doc__)
    parser.add_argument("--sets", default=",".join(common.required_sets()))
    parser.add_argument("--budget-s", type=non_negative, default=20.0,
                        help="CPU seconds of training per model (0: the alternator's "
                             "default training time, measured)")
    parser.add_argument("--steps", type=int_list, default=[1, 2, 4, 8, 15],
                        help="the alternator's T values (the budgets)")
    parser.add_argument("--lrs", type=float_list, default=[1e-3, 3e-3])
    parser.add_argument("--widths", type=int_list, default=[64, 128])
    parser.add_argument("--layers", type=common.positive, default=3)
    parser.add_argument("--eval-draws", type=common.positive, default=10,
                        help="scored draws per model (one draw's ratio is noisy)")
    parser.add_argument("--no-pp", dest="pp", action="store_false",
                        help="leave Alternator++ (--variant alternator++) off the frontier")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=common.DOCS)
    parser.add_argument("--fresh", action="store_true", help="ignore kept results")
    args = parser.parse_args(argv)
    args.sets = [s for s in args.sets.split(",") if s]
    known = common.distribution_sets()
    unknown = [s for s in args.sets if s not in known]
    if unknown or not args.sets:
        parser.error(f"--sets: not built-in 2-D sets: {', '.join(unknown) or '(none given)'}; "
                     f"choose from {', '.join(known)}")
    return args


class _Spec:  # argument_parser's `spec` when run as a script
    name = "benchmarks.frontier"


# ---- budgets ---------------------------------------------------------------------------


def peer_flops_per_eval(dim: int, hidden: int, layers: int, frequencies: int = 8) -> int:
    """Multiply-adds x 2 of one TimeMLP evaluation (matmuls only, as the alternator's)."""
    macs = (dim + 2 * frequencies) * hidden + (layers - 1) * hidden * hidden + hidden * dim
    return 2 * macs


def matched_nfe(budget_flops: int, per_eval: int) -> int:
    """The most network evaluations within `budget_flops` per point; at least one."""
    return max(1, budget_flops // per_eval)


def sampler_steps(sampler: str, nfe: int) -> int | None:
    """Solver steps of `sampler` within `nfe` evaluations (None: not even one step fits)."""
    steps = nfe // EVALS_PER_STEP[sampler]
    return steps or None


# ---- the alternator --------------------------------------------------------------------


def alternator_epoch_s(name: str, steps: int, seed: int, variant: str = "alternator") -> float:
    """CPU seconds per epoch of the alternator (or `variant`) at T = `steps`: a pilot of
    PILOT_EPOCHS after one warm-up epoch (the first is slower)."""
    trainer = common.builtin_trainer(name, seed, {"steps": steps, "threads": 1,
                                                  "variant": variant})
    marks = []

    def on_epoch(report) -> bool:
        marks.append(time.process_time())
        return report.epoch < PILOT_EPOCHS + 1

    trainer.run(on_epoch)
    return (marks[-1] - marks[0]) / PILOT_EPOCHS


def train_alternator(name: str, steps: int, budget_s: float, seed: int,
                     variant: str = "alternator"):
    """(trainer, CPU seconds, epochs run): the default settings at T = `steps` (and
    `variant`), with the epochs that fit `budget_s` (so the lr schedule ends at the
    budget), stopped at it."""
    epochs = max(1, int(budget_s / alternator_epoch_s(name, steps, seed, variant)))
    trainer = common.builtin_trainer(name, seed, {"steps": steps, "epochs": epochs,
                                                  "threads": 1, "variant": variant})
    start = time.process_time()
    trainer.run(lambda report: time.process_time() - start < budget_s)
    return trainer, time.process_time() - start, trainer.epoch


# ---- the peers at their best -----------------------------------------------------------


X0_CLIP = 4.0  # |x0| predictions clipped here (normalised units; diffusers' clip_sample)


def _diffusion_scheduler(sampler: str | None = None):
    """The training schedule (None), or a sampler's scheduler on it. The samplers take the
    network's clipped x0 prediction ("sample"): at few steps from the last training step,
    an epsilon network's x0 is divided by sqrt(alpha_bar) ~ 0 and explodes unclipped."""
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

    common_args = dict(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2")
    if sampler is None:
        return DDPMScheduler(**common_args, clip_sample=False)
    if sampler == "ddim":
        return DDIMScheduler(**common_args, clip_sample=False, timestep_spacing="trailing",
                             set_alpha_to_one=True, prediction_type="sample")
    return DPMSolverMultistepScheduler(**common_args, algorithm_type="dpmsolver++",
                                       solver_order=2, timestep_spacing="trailing",
                                       lower_order_final=True, prediction_type="sample")


def ema_with_warmup(averaged: torch.Tensor, current: torch.Tensor, count) -> torch.Tensor:
    """The EMA of weights with a warm-up: decay min(PEER_EMA, (1 + k) / (10 + k)) at the
    k-th update, so a short run's average is not held back by the initial weights."""
    k = float(count)
    decay = min(PEER_EMA, (1 + k) / (10 + k))
    return decay * averaged + (1 - decay) * current


def train_best_peer(kind: str, name: str, normalizer, hidden: int, layers: int, lr: float,
                    budget_s: float, seed: int):
    """(EMA network, CPU seconds, optimiser steps): a DDPM ("ddpm", epsilon prediction) or
    flow-matching ("cfm", torchcfm, sigma 0) TimeMLP trained on fresh batches of the set
    each step, warm-up (2%) + cosine lr, for the steps that fit `budget_s` (a pilot of
    PILOT_STEPS says how many), stopped at it."""
    if kind == "ddpm":
        scheduler = _diffusion_scheduler()
    else:
        from torchcfm.conditional_flow_matching import ConditionalFlowMatcher

        matcher = ConditionalFlowMatcher(sigma=0.0)

    def loss_of(net, step: int) -> torch.Tensor:
        x1 = torch.from_numpy(normalizer.encode(common.draw_builtin(
            name, PEER_BATCH, seed=1_000_000 * (seed + 1) + step)).astype(np.float32))
        if kind == "ddpm":
            noise = torch.randn_like(x1)
            t = torch.randint(0, 1000, (len(x1),))
            xt = scheduler.add_noise(x1, noise, t)
            return ((net(xt, t.float() / 1000) - noise) ** 2).mean()
        x0 = torch.randn_like(x1)
        t, xt, ut = matcher.sample_location_and_conditional_flow(x0, x1)
        return ((net(xt, t) - ut) ** 2).mean()

    def fit(total: int, limit_s: float):
        torch.manual_seed(seed)
        net = peers.TimeMLP(2, hidden, layers)
        ema = torch.optim.swa_utils.AveragedModel(net, avg_fn=ema_with_warmup)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        warmup = max(1, total // 50)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = min(1.0, (step - warmup) / max(1, total - warmup))
            return 0.5 * (1 + math.cos(math.pi * progress))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        start = time.process_time()
        step = 0
        while step < total and time.process_time() - start < limit_s:
            loss = loss_of(net, step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            ema.update_parameters(net)
            step += 1
        return ema.module.eval(), time.process_time() - start, step

    _, warm_s, _ = fit(PILOT_STEPS // 3, float("inf"))  # the first steps are slower
    _, pilot_s, pilot_steps = fit(PILOT_STEPS + PILOT_STEPS // 3, float("inf"))
    total = max(1, int(budget_s / ((pilot_s - warm_s) / (pilot_steps - PILOT_STEPS // 3))))
    return fit(total, budget_s)


@torch.inference_mode()
def sample_best_peer(kind: str, sampler: str, net, n: int, steps: int, seed: int) -> torch.Tensor:
    """n points in normalised units in `steps` solver steps of `sampler`."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g)
    if kind == "ddpm":
        scheduler = _diffusion_scheduler(sampler)
        scheduler.set_timesteps(steps)
        alpha_bar = _diffusion_scheduler().alphas_cumprod
        for t in scheduler.timesteps:
            eps = net(x, torch.full((n,), float(t) / 1000))
            a = alpha_bar[int(t)]
            x0 = ((x - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-X0_CLIP, X0_CLIP)
            x = scheduler.step(x0, t, x).prev_sample
        return x
    dt = 1.0 / steps

    def v(x, t):
        return net(x, torch.full((n,), t))

    for i in range(steps):  # from t = 0 (noise) to t = 1 (data)
        t = i * dt
        if sampler == "euler":
            x = x + dt * v(x, t)
        elif sampler == "midpoint":
            x = x + dt * v(x + 0.5 * dt * v(x, t), t + 0.5 * dt)
        else:  # heun
            k1 = v(x, t)
            k2 = v(x + dt * k1, t + dt)
            x = x + 0.5 * dt * (k1 + k2)
    return x


def choose(candidates: list[dict], budget_flops: int) -> dict:
    """The candidate (one trained peer and sampler) with the lowest validation ratio among
    those within `budget_flops` per point, or among all when none fits (a wider network's
    one evaluation may cost more than a small T's whole sample)."""
    within = [c for c in candidates if c["flops"] <= budget_flops]
    return min(within or candidates, key=lambda c: c["valid"])


# ---- scoring ---------------------------------------------------------------------------


def energy_ratio(points: np.ndarray, name: str, n: int, seed: int) -> float:
    """`alternators evaluate`'s energy ratio (distance / its floor) against fresh draws."""
    return float(common.score_builtin(points, name, n, seed=seed)["energy_distance"]["ratio"])


def scored(draw, name: str, draws: int) -> list[float]:
    """Energy ratios of `draws` scored draws: draw(j) is the j-th sample (n = N_EVAL)."""
    return [energy_ratio(draw(j), name, N_EVAL, seed=100 + 1000 * j) for j in range(draws)]


def peer_draw(kind: str, sampler: str, net, steps: int, normalizer):
    """draw(j): the j-th validation sample of a peer (n = N_VALID), in data units."""
    return lambda j: common.decode(normalizer, sample_best_peer(kind, sampler, net, N_VALID,
                                                                steps, 20_000 + 1000 * j))


def validation(draw, name: str) -> float:
    """Mean energy ratio of VALID_DRAWS validation draws: draw(j) is the j-th sample
    (n = N_VALID), each against its own reference draw, none of them a scored draw's."""
    return float(np.mean([energy_ratio(draw(j), name, N_VALID, seed=50_000 + 1000 * j)
                          for j in range(VALID_DRAWS)]))


# ---- one set -----------------------------------------------------------------------------


def run_set(name: str, args, cache: common.Cache, budget_s: float) -> dict:
    """{"alternator": {T: row}, "alternatorpp": {T: row} (unless --no-pp), "cfm": {T: row},
    "ddpm": {T: row}} for one set."""
    stem = f"{name}-data{common.array_fingerprint(common.draw_builtin(name, 1000, seed=0))}"
    out: dict = {"alternator": {}, "cfm": {}, "ddpm": {}, "budget_s": budget_s}
    normalizer = None

    def set_normalizer():
        """The set's normalizer, built once and only when a peer needs it."""
        nonlocal normalizer
        if normalizer is None:
            normalizer = common.builtin_trainer(name, args.seed, {}).normalizer
        return normalizer

    def load_peer(width: int, weights: Path):
        net = peers.TimeMLP(2, width, args.layers)
        net.load_state_dict(torch.load(weights))
        return net.eval()
    lanes = [(kind, T) for kind in VARIANTS if kind == "alternator" or args.pp
             for T in args.steps]
    for kind, T in lanes:
        def compute(T=T, kind=kind):
            trainer, cpu_s, epochs = train_alternator(name, T, budget_s, args.seed,
                                                      VARIANTS[kind])
            model = trainer.sampling_model()
            ratios = scored(lambda j: common.sample(model, trainer.normalizer, N_EVAL,
                                                    seed=10_000 + 1000 * j), name,
                            args.eval_draws)
            return {"T": T, "flops": common.flops(model), "train_cpu_s": cpu_s,
                    "epochs": epochs, "energy_draws": ratios,
                    "energy": float(np.mean(ratios))}

        row = cache.get_or_compute(f"{kind}-{stem}-T{T}", compute)
        out.setdefault(kind, {})[T] = row
        print(f"{name} {KIND_NAMES[kind]} T={T}: {row}", file=sys.stderr, flush=True)
    budgets = {T: out["alternator"][T]["flops"] for T in args.steps}
    for kind in ("cfm", "ddpm"):
        candidates: dict = {T: [] for T in args.steps}
        for width in args.widths:
            for lr in args.lrs:
                key = f"{kind}-{stem}-w{width}-lr{lr:g}"
                weights = cache.dir / f"{key}.pt"

                def compute(kind=kind, width=width, lr=lr, weights=weights):
                    net, cpu_s, opt_steps = train_best_peer(
                        kind, name, set_normalizer(), width, args.layers, lr, budget_s, args.seed)
                    torch.save(net.state_dict(), weights)
                    return {"width": width, "lr": lr, "train_cpu_s": cpu_s,
                            "opt_steps": opt_steps}

                def validate(kind=kind, width=width, weights=weights):
                    # Kept apart from the training, so a new validation reuses the weights.
                    net = load_peer(width, weights)
                    per_eval = peer_flops_per_eval(2, width, args.layers)
                    configs = []
                    for T, flops in budgets.items():
                        nfe = matched_nfe(flops, per_eval)
                        for sampler in SAMPLERS[kind]:
                            steps = sampler_steps(sampler, nfe)
                            if steps is None:
                                continue
                            configs.append({
                                "T": T, "sampler": sampler, "solver_steps": steps,
                                "nfe": steps * EVALS_PER_STEP[sampler],
                                "flops": steps * EVALS_PER_STEP[sampler] * per_eval,
                                "valid": validation(peer_draw(kind, sampler, net, steps,
                                                              set_normalizer()), name)})
                    return {"configs": configs}

                row = cache.get_or_compute(key, compute)
                row = {**row, **cache.get_or_compute(
                    f"{key}-valid{VALID_DRAWS}x{N_VALID}-T{','.join(map(str, args.steps))}",
                    validate)}
                print(f"{name} {kind} w{width} lr{lr:g}: {row['train_cpu_s']:.1f} CPU s, "
                      f"{row['opt_steps']} steps", file=sys.stderr, flush=True)
                for c in row["configs"]:
                    candidates[c["T"]].append({**c, **{k: row[k] for k in
                                                       ("width", "lr", "train_cpu_s",
                                                        "opt_steps")}, "weights": key})
        for T in args.steps:
            best = choose(candidates[T], budgets[T])

            def compute(best=best, kind=kind):
                net = load_peer(best["width"], cache.dir / f"{best['weights']}.pt")
                ratios = scored(lambda j: common.decode(set_normalizer(), sample_best_peer(
                    kind, best["sampler"], net, N_EVAL, best["solver_steps"],
                    10_000 + 1000 * j)), name, args.eval_draws)
                return {**best, "energy_draws": ratios, "energy": float(np.mean(ratios))}

            sel = f"{best['weights']}-{best['sampler']}-s{best['solver_steps']}-scored"
            out[kind][T] = cache.get_or_compute(sel, compute)
            print(f"{name} {kind} T={T}: {out[kind][T]}", file=sys.stderr, flush=True)
    return out


def default_budget(sets: list[str], seed: int) -> float:
    """The alternator's default training time: CPU seconds per epoch at the default T
    (a pilot on the first set) times the default epochs."""
    s = common.settings()
    return alternator_epoch_s(sets[0], s.steps, seed) * s.epochs


# ---- the table and the plot ------------------------------------------------------------


def winner(results: dict, name: str, T: int) -> str:
    """The lowest of the models within the budget at T: the alternator and the peers
    (Alternator++ at T costs about twice the budget; it has its own column)."""
    rows = {k: results[name][k][T]["energy"] for k in ("alternator", "cfm", "ddpm")
            if T in results[name][k]}
    return min(rows, key=rows.get)


def spread(row: dict) -> str:
    """The mean ratio and its standard error over the scored draws."""
    draws = np.asarray(row["energy_draws"])
    if len(draws) < 2:
        return f"{row['energy']:.2f}"
    return f"{row['energy']:.2f} ± {draws.std(ddof=1) / math.sqrt(len(draws)):.2f}"


def paired_gap(results: dict, name: str, T: int) -> tuple[float, float]:
    """The alternator's ratio minus the lowest peer's at T, and the standard error of that
    difference over the scored draws (paired: both are scored against the same draws)."""
    peer = min((results[name][k][T] for k in ("cfm", "ddpm") if T in results[name][k]),
               key=lambda r: r["energy"])
    diff = np.asarray(results[name]["alternator"][T]["energy_draws"]) - np.asarray(
        peer["energy_draws"])  # (draws,): the same reference draw j on both sides
    se = diff.std(ddof=1) / math.sqrt(len(diff)) if len(diff) > 1 else float("nan")
    return float(diff.mean()), float(se)


def describe(row: dict) -> str:
    return (f"{spread(row)} ({row['sampler']}, {row['nfe']} NFE, {row['flops'] / 1e3:.0f}k, "
            f"w{row['width']}, lr {row['lr']:g}, {row['train_cpu_s']:.0f} s)")


def markdown(results: dict, sets: list[str], steps: list[int], budget_s: float,
             args_budget: float, draws: int, host: str | None = None,
             search: str = "lr and width searched (SiLU MLP)") -> str:
    budget_text = (f"{budget_s:.0f} CPU seconds per model (the alternator's default training "
                   f"time, measured)" if args_budget == 0 else
                   f"{budget_s:g} CPU seconds per model (a reduced budget; "
                   f"`--budget-s 0` trains every model for the alternator's default training "
                   f"time)")
    lines = [] if host is None else [host, ""]
    lines += [
        f"Training budget: {budget_text}, one torch thread each. Sampling budget: the "
        "alternator's FLOPs per point at T (matmuls); each peer takes the most network "
        "evaluations (NFE) within it (at least one; one above it is marked `*`). Peers at "
        f"their best: EMA {PEER_EMA}, warm-up + cosine lr, fresh data every step, {search}, "
        "flow matching sampled with Euler, midpoint and Heun, diffusion (DDPM, epsilon, x0 "
        f"clipped to ±{X0_CLIP:g}) with DDIM and DPM-Solver++ 2M; per budget the best "
        f"(lr, width, sampler) within it is chosen on the mean of {VALID_DRAWS} validation "
        f"draws (n = {N_VALID}) "
        f"and scored on {draws} other draw(s) (n = {N_EVAL}; mean ± standard error), as the "
        "alternator is, against the same reference draws. "
        "The alternator: default settings but T, epochs fitted to the budget. Energy "
        "ratio: distance / noise floor (1 = the floor; lower is better). FLOPs per point "
        "in thousands (k).",
    ]
    pp = all("alternatorpp" in results[name] for name in sets)
    if pp:
        lines[-1] += (" Alternator++ (`--variant alternator++`, docs/model.md): the same, "
                      "trained for the same budget; its two noise networks make a point cost "
                      "about twice the alternator's at the same T, so it is shown in its own "
                      "column with its FLOPs and is not in the lowest-within-budget column.")
    lines += [
        "",
        "| data | T | alternator FLOPs/pt | alternator (train CPU s) | best flow matching "
        "(sampler, NFE, FLOPs/pt, width, lr, train CPU s) | best diffusion (same) | "
        "lowest |" + (" alternator++ (FLOPs/pt, epochs, train CPU s) |" if pp else ""),
        "|---|---|---|---|---|---|---|" + ("---|" if pp else ""),
    ]
    for name in sets:
        for T in steps:
            alt = results[name]["alternator"][T]
            cells = []
            for kind in ("cfm", "ddpm"):
                row = results[name][kind].get(T)
                star = "*" if row and row["flops"] > alt["flops"] else ""
                cells.append(describe(row) + star if row else "—")
            if pp:
                row = results[name]["alternatorpp"][T]
                cells.append(f"{spread(row)} ({row['flops'] / 1e3:.0f}k, "
                             f"{row['epochs']} ep, {row['train_cpu_s']:.0f} s)")
            lines.append(f"| {name} | {T} | {alt['flops'] / 1e3:.0f}k | {spread(alt)} "
                         f"({alt['train_cpu_s']:.0f}) | {cells[0]} | {cells[1]} | "
                         f"{KIND_NAMES[winner(results, name, T)]} |"
                         + "".join(f" {c} |" for c in cells[2:]))
    lines += ["", "Per budget, the sets on which the alternator is lowest:"]
    ok = True
    for T in steps:
        won = [s for s in sets if winner(results, s, T) == "alternator"]
        need = min(TARGET_SETS, len(sets))
        if T >= 2:
            ok &= len(won) >= need
        lines.append(f"- T = {T} ({results[sets[0]]['alternator'][T]['flops'] / 1e3:.0f}k "
                     f"FLOPs/pt): {len(won)}/{len(sets)} ({', '.join(won) or 'none'})")
    lines += ["", "The alternator minus the lowest peer, paired over the scored draws "
              "(mean ± standard error; negative: the alternator is lower):"]
    for T in steps:
        gaps = [(s, *paired_gap(results, s, T)) for s in sets]
        clear = sum(g + 2 * se < 0 for _, g, se in gaps)
        lines.append(f"- T = {T}: " + ", ".join(f"{s} {g:+.2f} ± {se:.2f}" for s, g, se in gaps)
                     + f"; lower by more than 2 standard errors on {clear}/{len(sets)}")
    lines += ["", f"Target: alternator lowest on >= {min(TARGET_SETS, len(sets))} of "
              f"{len(sets)} sets at every budget from 2 steps up: {'met' if ok else 'MISSED'}"
              f" (at this training budget)."]
    if pp:
        pairs = [(name, T) for name in sets for T in steps]
        lower = [(n, T) for n, T in pairs if results[n]["alternatorpp"][T]["energy"]
                 < results[n]["alternator"][T]["energy"]]
        ratio = np.median([results[n]["alternatorpp"][T]["flops"]
                           / results[n]["alternator"][T]["flops"] for n, T in pairs])
        lines += ["", f"Alternator++ against the alternator at the same T (same training "
                  f"budget, {ratio:.2f}x its sampling FLOPs): lower on {len(lower)} of "
                  f"{len(pairs)} (set, T) pairs"
                  + (f" ({', '.join(f'{n} T = {T}' for n, T in lower)})." if lower else ".")]
    return "\n".join(lines)


def plot(results: dict, sets: list[str], steps: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(1, len(sets), figsize=(3.0 * len(sets), 2.9), dpi=72,
                             squeeze=False)
    style = {"alternator": ("tab:blue", "o"), "alternatorpp": ("tab:purple", "D"),
             "cfm": ("tab:orange", "s"), "ddpm": ("tab:green", "^")}
    for ax, name in zip(axes[0], sets, strict=True):
        for kind, (color, marker) in style.items():
            rows = [results[name][kind][T] for T in steps if T in results[name].get(kind, {})]
            if not rows:
                continue
            ax.plot([r["flops"] for r in rows], [r["energy"] for r in rows], marker=marker,
                    color=color, label=KIND_NAMES[kind], ms=4, lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("sampling FLOPs / point", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("energy ratio (1 = floor)", fontsize=8)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    host = common.Host()
    args = parse_args(argv)
    common.reuse_freed_memory()
    torch.set_num_threads(1)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SystemExit(f"--out: cannot create directory {args.out}: {err.strerror}") from None
    key = common.fingerprint({
        "budget_s": args.budget_s, "steps": args.steps, "lrs": args.lrs, "widths": args.widths,
        "layers": args.layers, "draws": args.eval_draws, "seed": args.seed, "n": N_EVAL,
        "settings": common.settings_key()})
    cache = common.Cache(common.OUT / "frontier" / key, args.fresh)
    cache.dir.mkdir(parents=True, exist_ok=True)
    budget_s = args.budget_s
    if budget_s == 0:  # measured once per options: every lane uses the same budget
        budget_s = cache.get_or_compute(
            "budget", lambda: {"s": default_budget(common.required_sets(), args.seed)})["s"]
    results = {name: run_set(name, args, cache, budget_s) for name in args.sets}
    table = markdown(results, args.sets, args.steps, budget_s, args.budget_s,
                     args.eval_draws, host.line(1),
                     f"lr in {{{', '.join(f'{lr:g}' for lr in args.lrs)}}}, width in "
                     f"{{{', '.join(map(str, args.widths))}}} x {args.layers} (SiLU)")
    print(table)
    common.write_section(args.out / "benchmarks.md", "frontier", table)
    common.write_json(args.out / "benchmarks-frontier.json",
                      {"budget_s": budget_s, "results": results})
    plot(results, args.sets, args.steps, args.out / "frontier.png")


if __name__ == "__main__":
    main()
