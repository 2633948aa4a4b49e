"""Time series with a trained SequenceAlternator: sampling, imputation, forecasting,
latent inference and the held-out evaluation of SPEC section 5. Pure: arrays in, arrays
and dicts out; never prints or touches files."""

from __future__ import annotations

import numpy as np
import torch

from alternators_cli import sequence_metrics as sm
from alternators_cli.data import lorenz_series
from alternators_cli.engine import Normalizer, _derived_seed
from alternators_cli.errors import BadInput
from alternators_cli.model import SequenceAlternator

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
    model: SequenceAlternator, normalizer: Normalizer, values: np.ndarray, draws: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """`draws` passes of the model over values (N, T, D) in data units, NaN = missing.

    Returns x draws (draws, N, T, D) in data units, with observed cells as given, and the
    latent paths (draws, N, T, Dz). Draws run in chunks, each with its own seed.
    """
    N, T, D = values.shape
    if T > SPLIT_ABOVE:
        pieces = split_pieces(values)  # (N * P, BURN_IN + PIECE, D)
        x, z = run_draws(model, normalizer, pieces, draws, seed)
        return join_pieces(x, N, T), join_pieces(z, N, T)
    device = next(model.parameters()).device
    model.eval()
    x = torch.from_numpy(normalizer.encode(values)).to(device)  # (N, T, D)
    per_call = max(1, DRAW_CHUNK_CELLS // max(1, N * T * max(D, model.config.latent_dim)))
    xs, zs = [], []
    for index, first in enumerate(range(0, draws, per_call)):
        k = min(per_call, draws - first)
        generator = torch.Generator(device=device).manual_seed(_derived_seed(seed, index))
        with torch.inference_mode():
            x_gen, z = model.run(x.repeat(k, 1, 1), generator)  # (k*N, T, D), (k*N, T, Dz)
            x_gen = torch.where(torch.isnan(x), x_gen.view(k, N, T, D), x)  # keep observed
            xs.append(normalizer.decode_(x_gen).cpu().numpy())
            zs.append(z.view(k, N, T, -1).cpu().numpy())
    return np.concatenate(xs), np.concatenate(zs)


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
        yield first, run_draws(model, normalizer, empty, 1, _derived_seed(seed, index))[0][0]


def band_quantiles(band: float) -> tuple[float, float]:
    return (1 - band) / 2, (1 + band) / 2


def impute(
    model: SequenceAlternator, normalizer: Normalizer, values: np.ndarray, n: int,
    seed: int, band: float | None = None,
) -> dict[str, np.ndarray]:
    """Fill every missing cell of values (N, T, D) with the median of n completions;
    observed cells are returned unchanged. With `band`, also the central band's bounds."""
    draws, _ = run_draws(model, normalizer, values, n, seed)  # (n, N, T, D)
    out = {"median": np.median(draws, axis=0)}
    if band is not None:
        lo, hi = band_quantiles(band)
        out["lower"], out["upper"] = np.quantile(draws, [lo, hi], axis=0)
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
    rng = np.random.default_rng(_derived_seed(seed, 3))
    return lorenz_series(count, length, rng)


def evaluate(
    model: SequenceAlternator, normalizer: Normalizer, segs: np.ndarray, seed: int,
    horizon: int = 20, draws: int = 50, season: int | None = None,
    states: np.ndarray | None = None,
) -> dict:
    """Imputation, forecasting and (with true states) latent recovery on held-out
    segments (M, L, D), each beside its simple baseline; `band_coverage` is the share of
    true values inside the central 90 % band of the draws (about 0.9 when calibrated)."""
    rng = np.random.default_rng(seed)
    result: dict = {"segments": int(segs.shape[0]), "length": int(segs.shape[1]),
                    "draws": draws, "imputation": [], "forecast": {}}
    observed = ~np.isnan(segs)
    for pattern in ("scattered", "blocks"):
        for fraction in IMPUTE_FRACTIONS:
            if pattern == "blocks":
                hide = sm.block_mask(segs.shape, fraction, rng, block=BLOCK)
            else:
                hide = sm.scattered_mask(segs.shape, fraction, rng)
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
            row["mae_ratio"] = row["mae"] / row["linear_mae"]
            result["imputation"].append(row)

    history, future = segs[:, :-horizon], segs[:, -horizon:]
    if np.isnan(future[:, -1]).all():
        raise BadInput(f"no observed value at forecast horizon {horizon} in any segment to "
                       "score against: give a series observed there, or another --horizon")
    paths = forecast(model, normalizer, history, horizon, 2 * draws, seed)  # (S, M, H, D)
    last = future[:, -1]
    fc = {"horizon": horizon,
          "mae": sm.mae(np.median(paths[:, :, -1], axis=0), last),
          "crps": sm.crps_from_samples(paths[:, :, -1], last),
          "mae_mean_over_horizon": sm.mae(np.median(paths, axis=0), future)}
    lo, hi = np.quantile(paths[:, :, -1], band_quantiles(COVERAGE_BAND), axis=0)
    seen = ~np.isnan(last)
    fc["band_coverage"] = float(((lo <= last) & (last <= hi))[seen].mean())
    persistence = sm.persistence_forecast(history, horizon)
    fc["persistence_mae"] = sm.mae(persistence[:, -1], last)
    fc["persistence_crps"] = sm.crps_point(persistence[:, -1], last)
    fc["crps_ratio"] = fc["crps"] / fc["persistence_crps"]
    season = season if season is not None else sm.detect_season(history)
    fc["season"] = season
    if season is not None and history.shape[1] >= season:
        naive = sm.seasonal_naive_forecast(history, horizon, season)
        fc["seasonal_naive_mae"] = sm.mae(naive[:, -1], last)
        fc["seasonal_naive_crps"] = sm.crps_point(naive[:, -1], last)
    result["forecast"] = fc

    if states is not None:
        z = infer_latent(model, normalizer, segs, 10, seed)[:, LATENT_BURN_IN:]  # (M, L', Dz)
        s = states[:, LATENT_BURN_IN:]
        half = len(z) // 2
        corr = sm.latent_recovery(z[:half], s[:half], z[half:], s[half:])
        result["latent_correlation"] = [float(c) for c in corr]
    return result
