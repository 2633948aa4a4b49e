"""Time series with a trained SequenceAlternator: sampling, imputation, forecasting,
latent inference and the held-out evaluation of SPEC section 5. Pure: arrays in, arrays
and dicts out; never prints or touches files."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from alternators_cli import sequence_metrics as sm
from alternators_cli.datasets import lorenz_series
from alternators_cli.engine import one_thread
from alternators_cli.errors import BadInput
from alternators_cli.normalize import Normalizer
from alternators_cli.sequence_model import SequenceAlternator
from alternators_cli.training_data import derived_seed

DRAW_CHUNK_CELLS = 16_000_000  # cap on draws x series x steps x channels per model call
# A series longer than SPLIT_ABOVE steps runs as pieces of PIECE steps side by side, each
# after BURN_IN steps of the series before it (missing before the start): the recurrence is
# sequential in time, so one long pass is slow, while the filter forgets its start within
# a few dozen observed steps (z_keep^k -> 0), so pieces with a burn-in match a long pass.
SPLIT_ABOVE = 4096
PIECE = 1024
BURN_IN = 256
IMPUTE_FRACTIONS = (0.1, 0.5, 0.9)
BLOCK = 10
EVAL_SEGMENTS = 64  # held-out segments scored (at most)
LATENT_BURN_IN = 10  # steps the filter needs before z_t is read out
COVERAGE_BAND = 0.9  # central band whose coverage of the truth is reported (calibration)


def run_draws(
    model: SequenceAlternator, normalizer: Normalizer, values: np.ndarray, draws: int,
    seed: int, bridge: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """`draws` passes of the model over values (N, T, D) in data units, NaN = missing.

    Returns x draws (draws, N, T, D) in data units, with observed cells as given, and the
    latent paths (draws, N, T, Dz). Draws run in chunks, each with its own seed. With
    `bridge`, each draw's fill of a gap is bent to meet the observation after it
    (`bridge_gaps`).
    """
    N, T, D = values.shape
    if T > SPLIT_ABOVE:
        pieces = split_pieces(values)  # (N * P, BURN_IN + PIECE, D)
        x, z = run_draws(model, normalizer, pieces, draws, seed, bridge)
        return join_pieces(x, N, T), join_pieces(z, N, T)
    device = next(model.parameters()).device
    model.eval()
    x = torch.from_numpy(normalizer.encode(values)).to(device)  # (N, T, D)
    per_call = max(1, DRAW_CHUNK_CELLS // max(1, N * T * max(D, model.config.latent_dim)))
    xs, zs = [], []
    for index, first in enumerate(range(0, draws, per_call)):
        k = min(per_call, draws - first)
        generator = torch.Generator(device=device).manual_seed(derived_seed(seed, index))
        with torch.inference_mode(), one_thread(device):
            x_gen, z = model.run(x.repeat(k, 1, 1), generator)  # (k*N, T, D), (k*N, T, Dz)
            x_gen = x_gen.view(k, N, T, D)
            if bridge:
                x_gen = bridge_gaps(x_gen, x)
            x_gen = torch.where(torch.isnan(x), x_gen, x)  # keep observed
            xs.append(normalizer.decode_(x_gen).cpu().numpy())
            zs.append(z.view(k, N, T, -1).cpu().numpy())
    return np.concatenate(xs), np.concatenate(zs)


def bridge_gaps(draws: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Draws (k, N, T, D) whose fill of every interior gap is bent to meet the observation
    after it.

    The model runs forward, so at the first observed step b after a gap [a, b) its draws
    x_b miss the observation by e = x^data_b - median_j x_b^(j); every draw's filled step
    a <= t < b is moved by e (t - a + 1) / (b - a + 1), a linear bridge from the
    observation before the gap (moved by 0) to the one after it (by e). One bend per gap
    moves the draws together, so their spread (the band) is the model's. Gaps without an
    observation on both sides (a series' start, a forecast) are left as drawn.
    x: (N, T, D), NaN = missing.
    """
    missing = torch.isnan(x)  # (N, T, D)
    T = x.shape[1]
    steps = torch.arange(T, device=x.device).view(1, T, 1).expand_as(x)
    big = torch.full_like(steps, T)
    # Index of the last observed step at or before t, and of the first at or after t.
    seen_before = torch.where(missing, torch.full_like(steps, -1), steps).cummax(dim=1).values
    after = torch.where(missing, big, steps).flip(1).cummin(dim=1).values.flip(1)
    interior = missing & (seen_before >= 0) & (after < T)  # (N, T, D)
    end = after.clamp(max=T - 1)
    at_end = torch.gather(draws, 2, end.expand(draws.shape[0], *end.shape))  # (k, N, T, D)
    at_end = at_end.median(dim=0, keepdim=True).values  # (1, N, T, D): one bend per gap
    error = torch.gather(torch.nan_to_num(x), 1, end) - at_end  # (1, N, T, D)
    weight = (steps - seen_before).to(draws.dtype) / (after - seen_before).to(draws.dtype)
    return draws + torch.where(interior, weight * error, torch.zeros_like(error))


def split_pieces(values: np.ndarray) -> np.ndarray:
    """(N, T, D) -> (N * P, BURN_IN + PIECE, D): piece p holds steps [p PIECE, (p+1) PIECE)
    after the BURN_IN steps before them (NaN before the start and after the end)."""
    N, T, D = values.shape
    P = -(-T // PIECE)
    padded = np.full((N, BURN_IN + P * PIECE, D), np.nan, dtype=values.dtype)
    padded[:, BURN_IN : BURN_IN + T] = values
    starts = np.arange(P) * PIECE
    steps = starts[:, None] + np.arange(BURN_IN + PIECE)  # (P, BURN_IN + PIECE)
    return padded[:, steps].reshape(N * P, BURN_IN + PIECE, D)


def join_pieces(out: np.ndarray, N: int, T: int) -> np.ndarray:
    """(draws, N * P, BURN_IN + PIECE, K) -> (draws, N, T, K), dropping the burn-ins."""
    kept = out[:, :, BURN_IN:]  # (draws, N * P, PIECE, K)
    draws, _, _, K = kept.shape
    return kept.reshape(draws, N, -1, K)[:, :, :T]


def sample_paths(
    model: SequenceAlternator, normalizer: Normalizer, n: int, length: int, seed: int
) -> np.ndarray:
    """n new trajectories of `length` steps: (n, length, D) in data units."""
    return np.concatenate([part for _, part in sample_path_chunks(model, normalizer, n, length,
                                                                  seed)])


def sample_path_chunks(
    model: SequenceAlternator, normalizer: Normalizer, n: int, length: int, seed: int
):
    """sample_paths a chunk at a time, memory flat in n: yields (first path, (k, length, D))."""
    width = max(model.data_dim, model.config.latent_dim)
    chunk = max(1, DRAW_CHUNK_CELLS // (length * width))
    for index in range(-(-n // chunk)):
        first = index * chunk
        empty = np.full((min(chunk, n - first), length, model.data_dim), np.nan, np.float32)
        yield first, run_draws(model, normalizer, empty, 1, derived_seed(seed, index))[0][0]


def band_quantiles(band: float) -> tuple[float, float]:
    return (1 - band) / 2, (1 + band) / 2


def impute(
    model: SequenceAlternator, normalizer: Normalizer, values: np.ndarray, n: int,
    seed: int, band: float | None = None, quantiles: list[float] | None = None,
) -> dict[str, np.ndarray]:
    """Fill every missing cell of values (N, T, D) with the median of n completions, each
    gap's bent to meet the observation after it (`bridge_gaps`); observed cells are
    returned unchanged. With `band`, also the central band's bounds;
    with `quantiles`, those quantiles of the completions, stacked (Q, N, T, D)."""
    draws, _ = run_draws(model, normalizer, values, n, seed, bridge=True)  # (n, N, T, D)
    out = {"median": np.median(draws, axis=0)}
    if band is not None:
        lo, hi = band_quantiles(band)
        out["lower"], out["upper"] = np.quantile(draws, [lo, hi], axis=0)
    if quantiles:
        out["quantiles"] = np.quantile(draws, list(quantiles), axis=0)
    observed = ~np.isnan(values)
    for key in out:
        out[key] = np.where(observed, values, out[key]).astype(np.float32)
    return out


def forecast(
    model: SequenceAlternator, normalizer: Normalizer, history: np.ndarray, horizon: int,
    n: int, seed: int,
) -> np.ndarray:
    """n sample paths of the next `horizon` steps after history (N, T, D): (n, N, H, D)."""
    N, _, D = history.shape
    future = np.full((N, horizon, D), np.nan, dtype=np.float32)
    draws, _ = run_draws(model, normalizer, np.concatenate([history, future], axis=1), n, seed)
    return draws[:, :, -horizon:]


def infer_latent(
    model: SequenceAlternator, normalizer: Normalizer, values: np.ndarray, draws: int, seed: int
) -> np.ndarray:
    """The latent path behind values (N, T, D): mean over draws of z_t, (N, T, Dz)."""
    return run_draws(model, normalizer, values, draws, seed)[1].mean(axis=0)


# ---- evaluation (SPEC section 5, sequences) ------------------------------------------


def segments(series: np.ndarray, length: int, limit: int = EVAL_SEGMENTS) -> np.ndarray:
    """Non-overlapping segments (M, length, D) cut from series (N, T, D), at most `limit`."""
    N, T, D = series.shape
    per = T // length
    if per == 0:
        return np.empty((0, length, D), dtype=series.dtype)
    cut = series[:, : per * length].reshape(N * per, length, D)
    return cut[:limit]


def lorenz_heldout(count: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fresh Lorenz segments and their true states, independent of any training draw."""
    rng = np.random.default_rng(derived_seed(seed, 3))
    return lorenz_series(count, length, rng)


def _quiet(message: str) -> None:
    """The default progress callback: says nothing."""


def imputation_rows(
    model: SequenceAlternator, normalizer: Normalizer, segs: np.ndarray, seed: int,
    draws: int = 50, scored_from: int = 0, progress=_quiet,
) -> list[dict]:
    """Imputation of cells hidden from segments (M, L, D) at random (scattered steps, and
    blocks of BLOCK steps), at each share of IMPUTE_FRACTIONS, beside linear interpolation.
    Only steps from `scored_from` on are hidden and scored (the ones before are history)."""
    rng = np.random.default_rng(seed)
    observed = ~np.isnan(segs)
    region = (segs.shape[0], segs.shape[1] - scored_from, segs.shape[2])
    rows = []
    runs = [(p, f) for p in ("scattered", "blocks") for f in IMPUTE_FRACTIONS]
    for index, (pattern, fraction) in enumerate(runs):
        progress(f"imputation {index + 1}/{len(runs)}: {pattern}, {fraction:.0%} missing")
        hide = np.zeros(segs.shape, dtype=bool)
        if pattern == "blocks":
            hide[:, scored_from:] = sm.block_mask(region, fraction, rng, block=BLOCK)
        else:
            hide[:, scored_from:] = sm.scattered_mask(region, fraction, rng)
        hide = hide & observed  # only cells with a truth to score
        if not hide.any():  # segments too short to hide this share of steps
            continue
        given = np.where(hide, np.nan, segs)
        completed = impute(model, normalizer, given, draws, seed, band=COVERAGE_BAND)
        filled = completed["median"]
        baseline = sm.linear_interpolation(given)
        inside = (completed["lower"] <= segs) & (segs <= completed["upper"])
        row = {"pattern": pattern, "missing": fraction,
               "mae": sm.mae(filled, segs, hide), "mse": sm.mse(filled, segs, hide),
               "band_coverage": float(inside[hide].mean()),
               "linear_mae": sm.mae(baseline, segs, hide),
               "linear_mse": sm.mse(baseline, segs, hide)}
        row["mae_ratio"] = ratio(row["mae"], row["linear_mae"])
        rows.append(row)
    return rows


def ratio(score: float, baseline: float) -> float | None:
    """score / baseline; None where the baseline is exact (a constant or straight stretch
    that persistence or interpolation gets right), so no ratio exists."""
    return score / baseline if baseline > 0 else None


def forecast_scores(paths: np.ndarray, history: np.ndarray, future: np.ndarray,
                    season: int | None) -> dict:
    """Scores of forecast paths (S, M, H, D) against the truth `future` (M, H, D) after
    `history` (M, L, D), at the last step and over the horizon, beside persistence and
    (with a season the history repeats) seasonal naive."""
    horizon = future.shape[1]
    last = future[:, -1]
    fc = {"horizon": horizon,
          "mae": sm.mae(np.median(paths[:, :, -1], axis=0), last),
          "crps": sm.crps_from_samples(paths[:, :, -1], last),
          "mae_mean_over_horizon": sm.mae(np.median(paths, axis=0), future),
          "crps_mean_over_horizon": sm.crps_from_samples(paths, future)}
    lo, hi = np.quantile(paths[:, :, -1], band_quantiles(COVERAGE_BAND), axis=0)
    seen = ~np.isnan(last)
    fc["band_coverage"] = float(((lo <= last) & (last <= hi))[seen].mean())
    persistence = sm.persistence_forecast(history, horizon)
    fc["persistence_mae"] = sm.mae(persistence[:, -1], last)
    fc["persistence_crps"] = sm.crps_point(persistence[:, -1], last)
    fc["persistence_mae_mean_over_horizon"] = sm.mae(persistence, future)
    fc["crps_ratio"] = ratio(fc["crps"], fc["persistence_crps"])
    season = season if season is not None else sm.detect_season(history)
    fc["season"] = season
    if season is not None and history.shape[1] >= season:
        naive = sm.seasonal_naive_forecast(history, horizon, season)
        fc["seasonal_naive_mae"] = sm.mae(naive[:, -1], last)
        fc["seasonal_naive_crps"] = sm.crps_point(naive[:, -1], last)
        fc["seasonal_naive_mae_mean_over_horizon"] = sm.mae(naive, future)
    return fc


def evaluate(
    model: SequenceAlternator, normalizer: Normalizer, segs: np.ndarray, seed: int,
    horizon: int = 20, draws: int = 50, season: int | None = None,
    states: np.ndarray | None = None, progress=_quiet,
) -> dict:
    """Imputation, forecasting and (with true states) latent recovery on held-out
    segments (M, L, D), each beside its simple baseline; `band_coverage` is the share of
    true values inside the central 90 % band of the draws (about 0.9 when calibrated).
    Each segment is forecast from its first L - horizon steps."""
    result: dict = {"segments": int(segs.shape[0]), "length": int(segs.shape[1]),
                    "draws": draws, "imputation": [], "forecast": {}}
    history, future = segs[:, :-horizon], segs[:, -horizon:]
    if np.isnan(future[:, -1]).all():
        raise BadInput(f"no observed value at forecast horizon {horizon} in any segment to "
                       "score against: give a series observed there, or another --horizon")
    result["imputation"] = imputation_rows(model, normalizer, segs, seed, draws,
                                           progress=progress)
    progress(f"forecasts of {horizon} steps from {len(segs)} segments")
    paths = forecast(model, normalizer, history, horizon, 2 * draws, seed)  # (S, M, H, D)
    result["forecast"] = forecast_scores(paths, history, future, season)
    if states is not None:
        progress("latent recovery")
        z = infer_latent(model, normalizer, segs, 10, seed)[:, LATENT_BURN_IN:]  # (M, L', Dz)
        s = states[:, LATENT_BURN_IN:]
        half = len(z) // 2
        corr = sm.latent_recovery(z[:half], s[:half], z[half:], s[half:])
        result["latent_correlation"] = [float(c) for c in corr]
    return result


# ---- backtest: rolling-origin forecasts over the last part of a series ------------------

BACKTEST_ORIGINS = 24  # forecast origins scored (at most), evenly spread
BACKTEST_HISTORY = 512  # steps of history each backtest forecast reads (at most)


HISTORY_KEPT_CELLS = 4_000_000  # cap on series x steps x channels of a kept history


def history_to_keep(train: np.ndarray) -> np.ndarray:
    """The last steps of training series (N, T, D) a checkpoint keeps as the history of
    its held-out part: up to BACKTEST_HISTORY steps, fewer for very wide data."""
    N, T, D = train.shape
    steps = max(1, min(T, BACKTEST_HISTORY, HISTORY_KEPT_CELLS // max(1, N * D)))
    return train[:, T - steps:]


def backtest_origins(length: int, start: int, horizon: int,
                     limit: int = BACKTEST_ORIGINS) -> np.ndarray:
    """Forecast origins from `start` to `length - horizon` (a forecast from origin o reads
    steps before o and is scored on steps o .. o + horizon - 1), at most `limit`."""
    last = length - horizon
    if last < start:
        return np.empty(0, dtype=np.int64)
    count = min(limit, last - start + 1)
    return np.unique(np.linspace(start, last, count).round().astype(np.int64))


def backtest_windows(series: np.ndarray, start: int, horizon: int):
    """(origins, history, past (N*K, history, D), future (N*K, H, D)) of a backtest of
    series (N, T, D) scored from step `start`; BadInput when there is nothing to score."""
    N, T, D = series.shape
    origins = backtest_origins(T, start, horizon)
    if len(origins) == 0:
        raise BadInput(f"the series has {T - start} step(s) to score after its first "
                       f"forecast origin, fewer than --horizon {horizon}: too short; give a "
                       "smaller --horizon or a longer series")
    history = min(int(origins[0]), BACKTEST_HISTORY)
    steps = origins[:, None] + np.arange(-history, horizon)  # (K, history + H)
    windows = series[:, steps].reshape(N * len(origins), history + horizon, D)
    past, future = windows[:, :history], windows[:, history:]
    if np.isnan(future[:, -1]).all():
        raise BadInput(f"no observed value at forecast horizon {horizon} after any origin "
                       "to score against: give a series observed there, or another --horizon")
    return origins, history, past, future


@dataclass
class Backtest:
    """Rolling-origin forecasts of a series (N, T, D): from each origin o, `draws` paths of
    the next `horizon` steps, read from the `history` steps before o."""

    origins: np.ndarray  # (K,)
    history: int
    paths: np.ndarray  # (S, N, K, H, D)
    truth: np.ndarray  # (N, K, H, D)
    report: dict


def backtest(
    model: SequenceAlternator, normalizer: Normalizer, series: np.ndarray, start: int,
    horizon: int, seed: int, draws: int = 100, season: int | None = None,
    progress=_quiet,
) -> Backtest:
    """Forecast `horizon` steps from every origin of `backtest_origins` (the steps from
    `start` on are the scored part), each from the same number of steps of history, and
    score them (see `forecast_scores`)."""
    N, T, D = series.shape
    origins, history, past, future = backtest_windows(series, start, horizon)
    progress(f"backtest: forecasts of {horizon} steps from {len(origins)} origins")
    paths = forecast(model, normalizer, past, horizon, draws, seed)  # (S, N*K, H, D)
    report = forecast_scores(paths, past, future, season)
    report.update(method="rolling origin", origins=len(origins), first_origin=int(origins[0]),
                  history=history)
    K = len(origins)
    return Backtest(origins, history, paths.reshape(draws, N, K, horizon, D),
                    future.reshape(N, K, horizon, D), report)
