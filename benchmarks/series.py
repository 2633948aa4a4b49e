"""Real time series against the forecasters' tools (`make bench-series`).

Series that ship inside statsmodels (offline) and docs/airline.csv, each with its last H
points held out. For each: the alternator trained as a user would (`alternators train
history.csv --kind sequence --heldout 0`, otherwise at the defaults; the real command
line, timed), 200 forecast paths from `alternators forecast --format npy`; beside it,
fitted on the same history with statsmodels: seasonal naive (naive where there is no
season), Holt-Winters (ExponentialSmoothing, trend and season chosen by AIC, its
predictive distribution from 1000 `simulate()` paths) and ARIMA (small AIC grid, seasonal
where there is a season, Gaussian predictive distribution: closed-form CRPS of a normal).
Scores over every held-out step and channel: CRPS, MAE of the median, share of the truth
inside the central 90 % band.

Imputation: three blocks hidden in each history (6 steps for monthly series, 4 for
quarterly, 5 for yearly); a second model trained on the gappy history fills them (median
of 100 completions), beside linear interpolation and an STL seasonal re-fill.

Writes docs/benchmarks.md (its series section) and docs/benchmarks-series.json.

    python -m benchmarks.series [--only airline,nile] [--train-args "--epochs 5"] [--seeds 3]

Every alternator figure is the mean over --seeds training seeds (3 by default: one seed's
count of series won moves by one between seeds).
"""

from __future__ import annotations

import itertools
import shlex
import sys
import time
import warnings
from dataclasses import dataclass, replace
from math import erf, pi, sqrt
from pathlib import Path

import numpy as np

from benchmarks import common
from benchmarks.common import sequence_metrics as sm

OUT = common.OUT / "series"
PATHS = 200
BAND = 0.9
Z90 = 1.6448536269514722


@dataclass
class Series:
    name: str
    frequency: str
    values: np.ndarray  # (T, D)
    columns: list[str]
    season: int | None
    horizon: int
    block: int
    note: str = ""
    options: tuple[str, ...] = ()  # what a user who knows the series would give `train`


def load_series() -> list[Series]:
    import pandas as pd
    import statsmodels.api as sma

    ds = sma.datasets
    out = []
    air = np.loadtxt(common.DOCS / "airline.csv", delimiter=",", skiprows=3,
                     usecols=1, dtype=np.float64)
    out.append(Series("airline", "monthly", air[:, None], ["passengers"], 12, 24, 6,
                      "passengers (thousands), 1949-1960",
                      ("--season", "12", "--transform", "log")))
    co2 = ds.co2.load_pandas().data["co2"]
    monthly = co2.resample("MS").mean().interpolate().loc["1980":]
    out.append(Series("co2", "monthly", monthly.to_numpy()[:, None], ["co2"], 12, 24, 6,
                      "Mauna Loa CO2 (ppm), weekly averaged to months, 1980-2001",
                      ("--season", "12")))
    nino = ds.elnino.load_pandas().data.set_index("YEAR")
    out.append(Series("elnino", "monthly", nino.to_numpy().reshape(-1, 1), ["sst"], 12, 24, 6,
                      "El Nino sea surface temperature (C), 1950-2010",
                      ("--season", "12", "--no-increments")))
    spots = ds.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy()
    out.append(Series("sunspots", "yearly", spots[:, None], ["sunactivity"], 11, 20, 5,
                      "yearly sunspot activity, 1700-2008 (season 11: the solar cycle)"))
    nile = ds.nile.load_pandas().data["volume"].to_numpy()
    out.append(Series("nile", "yearly", nile[:, None], ["volume"], None, 10, 5,
                      "Nile flow at Aswan, 1871-1970"))
    macro = ds.macrodata.load_pandas().data
    cols = ["realgdp", "realcons", "realinv"]
    logs = 100 * np.log(macro[cols].to_numpy())
    out.append(Series("macro", "quarterly", logs, cols, None, 12, 4,
                      "US real GDP, consumption, investment, 100 log, 1959-2009"))
    del pd
    return out


# ---- scores -----------------------------------------------------------------------------


def normal_crps(mu: np.ndarray, sd: np.ndarray, y: np.ndarray) -> float:
    """Closed-form CRPS of N(mu, sd^2) at y, averaged over cells."""
    sd = np.maximum(sd, 1e-12)
    z = (y - mu) / sd
    cdf = 0.5 * (1 + np.vectorize(erf)(z / sqrt(2)))
    pdf = np.exp(-0.5 * z**2) / sqrt(2 * pi)
    return float(np.mean(sd * (z * (2 * cdf - 1) + 2 * pdf - 1 / sqrt(pi))))


def path_scores(paths: np.ndarray, truth: np.ndarray) -> dict:
    """paths (S, H, D), truth (H, D)."""
    lo, hi = np.quantile(paths, [(1 - BAND) / 2, (1 + BAND) / 2], axis=0)
    return {"crps": sm.crps_from_samples(paths, truth),
            "mae": float(np.mean(np.abs(np.median(paths, axis=0) - truth))),
            "coverage": float(np.mean((lo <= truth) & (truth <= hi)))}


def normal_scores(mu: np.ndarray, sd: np.ndarray, truth: np.ndarray) -> dict:
    return {"crps": normal_crps(mu, sd, truth), "mae": float(np.mean(np.abs(mu - truth))),
            "coverage": float(np.mean(np.abs(truth - mu) <= Z90 * sd))}


# ---- baselines --------------------------------------------------------------------------


def naive_forecast(history: np.ndarray, horizon: int, season: int | None) -> np.ndarray:
    if season:
        return sm.seasonal_naive_forecast(history[None], horizon, season)[0]
    return sm.persistence_forecast(history[None], horizon)[0]


def holt_winters(y: np.ndarray, horizon: int, season: int | None, seed: int) -> np.ndarray:
    """Paths (1000, H) of the AIC-best ExponentialSmoothing."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    positive = bool((y > 0).all())
    trends = [None, "add"]
    seasons = [None] if not season else ["add", "mul"] if positive else ["add"]
    best = None
    for trend, seasonal, damped in itertools.product(trends, seasons, (False, True)):
        if damped and trend is None:
            continue
        try:
            fit = ExponentialSmoothing(
                y, trend=trend, damped_trend=damped, seasonal=seasonal,
                seasonal_periods=season if seasonal else None,
                initialization_method="estimated").fit()
        except (ValueError, np.linalg.LinAlgError):
            continue
        if np.isfinite(fit.aic) and (best is None or fit.aic < best.aic):
            best = fit
    sims = best.simulate(horizon, repetitions=1000, error="add", anchor="end",
                         random_state=seed)
    return np.asarray(sims).T  # (1000, H)


def arima(y: np.ndarray, horizon: int, season: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd (H,) of the AIC-best ARIMA of a small grid; d by an ADF test."""
    from statsmodels.tsa.arima.model import ARIMA
    from statsmodels.tsa.stattools import adfuller

    d = 0 if adfuller(y)[1] < 0.05 else 1
    seasonal_orders = [(0, 0, 0, 0)]
    if season:
        seasonal_orders = [(P, 1, Q, season) for P, Q in ((0, 1), (1, 0))]
    best = None
    for p, q, so in itertools.product((0, 1, 2), (0, 1), seasonal_orders):
        trend = "c" if d == 0 and so[1] == 0 else ("t" if d + so[1] == 1 else "n")
        try:
            fit = ARIMA(y, order=(p, d, q), seasonal_order=so, trend=trend).fit()
        except (ValueError, np.linalg.LinAlgError):
            continue
        if np.isfinite(fit.aic) and (best is None or fit.aic < best.aic):
            best = fit
    fc = best.get_forecast(horizon)
    return np.asarray(fc.predicted_mean), np.sqrt(np.asarray(fc.var_pred_mean))


def stl_refill(given: np.ndarray, season: int) -> np.ndarray:
    """Gaps (NaN) of one channel filled with STL's trend + season, fitted on the linearly
    filled series and iterated: the fill is re-estimated three times."""
    from statsmodels.tsa.seasonal import STL

    missing = np.isnan(given)
    filled = sm.linear_interpolation(given[None, :, None])[0, :, 0]
    for _ in range(3):
        fit = STL(filled, period=season, robust=True).fit()
        filled = np.where(missing, fit.trend + fit.seasonal, given)
    return filled


# ---- the alternator through the command line -------------------------------------------


def write_csv(path: Path, values: np.ndarray, columns: list[str]) -> None:
    with open(path, "w") as f:
        f.write(",".join(columns) + "\n")
        for row in values:
            f.write(",".join("NaN" if np.isnan(v) else f"{v:.6g}" for v in row) + "\n")


def train(csv: Path, out: Path, extra: list[str], seed: int) -> float:
    """Wall seconds of the whole `alternators train` command."""
    return common.run_cli("train", str(csv), "--kind", "sequence", "--heldout", "0", "--seed",
                          str(seed), "--out", str(out), "--overwrite", "--device", "cpu",
                          *extra).wall_s


def alternator_forecast(s: Series, history: np.ndarray, work: Path, extra: list[str],
                        seed: int) -> tuple[np.ndarray, float]:
    csv = work / "history.csv"
    write_csv(csv, history, s.columns)
    seconds = train(csv, work / "run", extra, seed)
    npy = work / "paths.npy"
    common.run_cli("forecast", "-c", str(work / "run" / "model.pt"), "--input", str(csv),
            "-H", str(s.horizon), "-n", str(PATHS), "--format", "npy", "-o", str(npy),
            "--seed", str(seed))
    return np.load(npy), seconds  # (S, H, D)


def hidden_blocks(T: int, block: int) -> np.ndarray:
    """(T,) bool: three blocks at a quarter, half and three quarters of the history."""
    hide = np.zeros(T, dtype=bool)
    for f in (0.25, 0.5, 0.75):
        start = int(f * T) - block // 2
        hide[start:start + block] = True
    return hide


def imputation(s: Series, history: np.ndarray, work: Path, extra: list[str],
               seed: int) -> dict:
    hide = hidden_blocks(len(history), s.block)
    given = history.copy()
    given[hide] = np.nan
    csv = work / "gappy.csv"
    write_csv(csv, given, s.columns)
    seconds = train(csv, work / "gappy-run", extra, seed)
    filled_csv = work / "filled.csv"
    common.run_cli("impute", "-c", str(work / "gappy-run" / "model.pt"), "--input", str(csv),
            "-n", "100", "-o", str(filled_csv), "--seed", str(seed))
    filled = np.loadtxt(filled_csv, delimiter=",", skiprows=1, ndmin=2)
    truth = history[hide]
    row = {"alternator": float(np.mean(np.abs(filled[hide] - truth))),
           "linear": float(np.mean(np.abs(sm.linear_interpolation(given[None])[0][hide]
                                          - truth))),
           "train_seconds": seconds, "hidden": int(hide.sum())}
    if s.season:
        stl = np.stack([stl_refill(given[:, k], s.season) for k in range(given.shape[1])], 1)
        row["stl"] = float(np.mean(np.abs(stl[hide] - truth)))
    return row


# ---- the table --------------------------------------------------------------------------


def baselines(s: Series, history: np.ndarray, truth: np.ndarray, seed: int,
              fresh: bool) -> dict:
    """Seasonal naive, Holt-Winters and ARIMA scores, kept under benchmarks/out/series/ by a
    key of all they depend on (the history and held-out values, season, horizon, seed);
    refitted with `fresh`."""
    key = common.fingerprint({"history": common.array_fingerprint(history),
                              "truth": common.array_fingerprint(truth), "seed": seed,
                              "horizon": s.horizon, "season": s.season})
    cache = common.Cache(OUT / "baselines", fresh)
    return cache.get_or_compute(f"{s.name}-{key}",
                                lambda: fit_baselines(s, history, truth, seed))


def fit_baselines(s: Series, history: np.ndarray, truth: np.ndarray, seed: int) -> dict:
    naive = naive_forecast(history, s.horizon, s.season)
    out = {"naive": {"crps": float(np.mean(np.abs(naive - truth))),
                     "mae": float(np.mean(np.abs(naive - truth))), "coverage": None}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hw = np.stack([holt_winters(history[:, k], s.horizon, s.season, seed)
                       for k in range(history.shape[1])], axis=-1)  # (1000, H, D)
        out["holt_winters"] = path_scores(hw, truth)
        fits = [arima(history[:, k], s.horizon, s.season) for k in range(history.shape[1])]
    mu = np.stack([f[0] for f in fits], -1)
    sd = np.stack([f[1] for f in fits], -1)
    out["arima"] = normal_scores(mu, sd, truth)
    return out


def evaluate(s: Series, extra: list[str], seed: int, with_imputation: bool,
             fresh: bool = False) -> dict:
    extra = [*s.options, *extra]
    work = OUT / s.name
    work.mkdir(parents=True, exist_ok=True)
    history, truth = s.values[: -s.horizon], s.values[-s.horizon:]
    paths, seconds = alternator_forecast(s, history, work, extra, seed)
    result = {"series": s.name, "frequency": s.frequency, "length": len(s.values),
              "channels": len(s.columns), "season": s.season, "horizon": s.horizon,
              "note": s.note, "options": " ".join(extra), "train_seconds": seconds,
              "alternator": path_scores(paths, truth)}
    result.update(baselines(s, history, truth, seed, fresh))
    if with_imputation:
        result["imputation"] = imputation(s, history, work, extra, seed)
    return result


def over_seeds(runs: list[dict]) -> dict:
    """One series' results at several training seeds as one: every score the mean over
    the seeds (Holt-Winters' simulated paths use the seed too), the alternator's CRPS
    also with its sd and its value per seed."""
    out = dict(runs[0])
    for key in ("alternator", "holt_winters", "arima", "naive"):
        scores = [r[key] for r in runs]
        out[key] = {k: None if scores[0][k] is None else
                    float(np.mean([sc[k] for sc in scores])) for k in scores[0]}
    crps = [r["alternator"]["crps"] for r in runs]
    out["alternator"]["crps_sd"] = float(np.std(crps, ddof=1)) if len(runs) > 1 else 0.0
    out["alternator"]["crps_per_seed"] = crps
    out["train_seconds"] = float(np.mean([r["train_seconds"] for r in runs]))
    if "imputation" in runs[0]:
        out["imputation"] = {k: float(np.mean([r["imputation"][k] for r in runs]))
                             for k in runs[0]["imputation"]}
        out["imputation"]["hidden"] = runs[0]["imputation"]["hidden"]
    out["seeds"] = len(runs)
    return out


def cell(score: dict) -> str:
    cover = "" if score.get("coverage") is None else f" / {score['coverage']:.2f}"
    spread = f" ± {score['crps_sd']:.2g}" if score.get("crps_sd") else ""
    return f"{score['crps']:.3g}{spread}{cover}"


def table(results: list[dict], header: str) -> str:
    lines = [header, "",
             "Forecasts of the held-out end: CRPS / 90 % band coverage (CRPS of a point "
             "forecast is its MAE; lower is better; **bold**: the best CRPS).", "",
             "| series (H) | alternator | Holt-Winters | ARIMA | seasonal naive | "
             "alternator MAE | train s |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        keys = ("alternator", "holt_winters", "arima", "naive")
        opts = f" `{r['options']}`" if r["options"] else ""
        best = min(keys, key=lambda k: r[k]["crps"])
        cells = [f"**{cell(r[k])}**" if k == best else cell(r[k]) for k in keys]
        naive_name = "" if r["season"] else " (naive)"
        ch = f", {r['channels']} channels" if r["channels"] > 1 else ""
        lines.append(f"| {r['series']}, {r['frequency']}{ch} ({r['horizon']}){opts} | "
                     f"{cells[0]} | {cells[1]} | {cells[2]} | "
                     f"{cells[3]}{naive_name} | {r['alternator']['mae']:.3g} | "
                     f"{r['train_seconds']:.0f} |")
    won = sum(r["alternator"]["crps"] < min(r["holt_winters"]["crps"], r["arima"]["crps"])
              for r in results)
    not_worse = sum(r["alternator"]["crps"] <= r["naive"]["crps"] for r in results)
    covered = sum(0.8 <= r["alternator"]["coverage"] <= 0.97 for r in results)
    lines += ["", f"Alternator CRPS below both Holt-Winters and ARIMA on {won} of "
              f"{len(results)} series; not worse than (seasonal) naive on {not_worse} of "
              f"{len(results)}; 90 % band coverage within 0.80-0.97 on {covered} of "
              f"{len(results)}."]
    imp = [r for r in results if "imputation" in r]
    if imp:
        lines += ["", "Imputation of three hidden blocks per history (MAE of the filled "
                  "values; the alternator trained on the gappy history):", "",
                  "| series (hidden cells) | alternator | linear interp. | STL re-fill |",
                  "|---|---|---|---|"]
        for r in imp:
            i = r["imputation"]
            stl = f"{i['stl']:.3g}" if "stl" in i else "–"
            lines.append(f"| {r['series']} ({i['hidden']}) | {i['alternator']:.3g} | "
                         f"{i['linear']:.3g} | {stl} |")
    return "\n".join(lines)


def seed_text(first: int, count: int) -> str:
    return f"seed {first}" if count == 1 else f"training seeds {first}..{first + count - 1}"


def main() -> None:
    host = common.Host()
    parser = common.argument_parser(__spec__, __doc__)
    parser.add_argument("--only", default="", help="Comma-separated series names.")
    parser.add_argument("--train-args", default="", help="Extra `train` options (ablations).")
    parser.add_argument("--no-imputation", action="store_true")
    parser.add_argument("--plain", action="store_true",
                        help="Without each series' own options (--season, --transform).")
    parser.add_argument("--seed", type=int, default=0, help="The first training seed.")
    parser.add_argument("--seeds", type=common.positive, default=3,
                        help="Training seeds per series (--seed, --seed + 1, ...); the table "
                        "shows means over them.")
    parser.add_argument("--fresh", action="store_true",
                        help="Refit the baselines (else kept from an earlier run).")
    parser.add_argument("--no-write", action="store_true", help="Print only.")
    parser.add_argument("--json", type=Path, default=None, help="Also write results here.")
    args = parser.parse_args()
    extra = shlex.split(args.train_args)
    every = load_series()
    only = [n for n in args.only.split(",") if n]
    unknown = [n for n in only if n not in {s.name for s in every}]
    if unknown:
        parser.error(f"--only: unknown series {', '.join(unknown)}; choose from "
                     f"{', '.join(s.name for s in every)}")
    chosen = [s for s in every if not only or s.name in only]
    if args.plain:
        chosen = [replace(s, options=()) for s in chosen]
    results = []
    for s in chosen:
        t0 = time.perf_counter()
        r = over_seeds([evaluate(s, extra, args.seed + k, not args.no_imputation, args.fresh)
                        for k in range(args.seeds)])
        results.append(r)
        print(f"{s.name}: {time.perf_counter() - t0:.0f}s  alternator {cell(r['alternator'])}"
              f"  HW {cell(r['holt_winters'])}  ARIMA {cell(r['arima'])}  naive "
              f"{cell(r['naive'])}  {r.get('imputation', '')}", file=sys.stderr, flush=True)
    host_line = host.line()
    header = (f"{host_line}\n\nThe alternator: `alternators train history.csv --kind "
              "sequence --heldout 0"
              f"{' ' + args.train_args if args.train_args else ''}` plus the options in the "
              "first column (else the defaults), "
              f"{seed_text(args.seed, args.seeds)}, {PATHS} forecast paths per seed; every "
              "figure is the mean over the seeds, the alternator's CRPS with its sd. "
              "Holt-Winters: ExponentialSmoothing, trend (none / additive / damped) and "
              "season (additive / multiplicative) by "
              "AIC, 1000 simulate() paths. ARIMA: (p ≤ 2, d by an ADF test, q ≤ 1), "
              "seasonal (0,1,1) or (1,1,0) where there is a season, by AIC; Gaussian "
              "predictive (closed-form CRPS). Series: "
              + "; ".join(f"{s.name}: {s.note}" for s in chosen) + ".")
    body = table(results, header)
    print(body)
    payload = {"train_args": args.train_args, "seed": args.seed, "seeds": args.seeds,
               "results": results,
               "host": host_line}
    if args.json:
        common.write_json(args.json, payload)
    if not args.no_write:
        common.write_section(common.BENCHMARKS_MD, "series", body)
        common.write_json(common.DOCS / "benchmarks-series.json", payload)


if __name__ == "__main__":
    main()
