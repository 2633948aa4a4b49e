"""Evaluation pieces for time series (SPEC section 5, "For sequences"): pure numpy.

A batch of series is an array ``(N, T, D)``: N series, T time steps, D channels, float,
with NaN marking a missing cell. This module holds

- masks that hide cells for imputation tests (``scattered_mask``, ``block_mask``);
- baselines: ``linear_interpolation`` (imputation), ``persistence_forecast`` and
  ``seasonal_naive_forecast`` (forecasting), with ``detect_season`` to pick the season;
- point scores ``mae`` / ``mse``, and CRPS for probabilistic forecasts from sampled paths,
  SPEC formula ``CRPS = mean|Y - y| - 0.5*mean|Y - Y'|`` (V-statistic: the pair mean runs
  over all pairs of samples including ``i = j``), with ``crps_point`` (= MAE) for
  deterministic baselines;
- latent recovery: a linear readout from the model's latent to the true latent state, and
  Pearson correlation per true dimension on held-out data.

No torch, no printing, no file I/O.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "apply_linear_readout",
    "block_mask",
    "crps_from_samples",
    "crps_point",
    "detect_season",
    "fit_linear_readout",
    "latent_recovery",
    "linear_interpolation",
    "mae",
    "mse",
    "pearson_per_dim",
    "persistence_forecast",
    "scattered_mask",
    "seasonal_naive_forecast",
]


def _series(values: np.ndarray, name: str = "values") -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 3:
        raise ValueError(f"{name} must have shape (N, T, D); got {arr.shape}")
    return arr


def _hidden_count(shape: tuple[int, int, int], fraction: float) -> tuple[int, int, int, int]:
    if len(shape) != 3:
        raise ValueError(f"shape must be (N, T, D); got {shape}")
    n, t, d = (int(s) for s in shape)
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1]; got {fraction}")
    return n, t, d, int(round(fraction * t))


# ---- masks (True = hidden) -----------------------------------------------------------------


def scattered_mask(
    shape: tuple[int, int, int], fraction: float, rng: np.random.Generator
) -> np.ndarray:
    """Hide exactly ``round(fraction * T)`` time steps per series, chosen at random.

    A hidden time step hides all D channels of that row together. True = hidden.
    """
    n, t, d, k = _hidden_count(shape, fraction)
    mask = np.zeros((n, t, d), dtype=bool)
    if k == 0 or t == 0:
        return mask
    steps = np.argsort(rng.random((n, t)), axis=1)[:, :k]  # k distinct steps per series
    rows = np.zeros((n, t), dtype=bool)
    np.put_along_axis(rows, steps, True, axis=1)
    mask[:] = rows[:, :, None]
    return mask


def block_mask(
    shape: tuple[int, int, int],
    fraction: float,
    rng: np.random.Generator,
    block: int = 10,
) -> np.ndarray:
    """Hide contiguous blocks of ``block`` time steps (all channels) per series.

    Blocks do not overlap and are placed at random until exactly ``round(fraction * T)``
    steps are hidden; one block (at a random place among them) is shorter when
    ``block`` does not divide that count. The first time step is never hidden, so every
    series keeps an observed anchor for interpolation or filtering: the hidden count is
    therefore capped at ``T - 1``. Blocks are separated by at least one observed step
    whenever the free steps allow it (otherwise neighbouring blocks may touch).
    True = hidden.
    """
    if block < 1:
        raise ValueError(f"block must be >= 1; got {block}")
    n, t, d, k = _hidden_count(shape, fraction)
    mask = np.zeros((n, t, d), dtype=bool)
    span = t - 1  # steps 1..T-1 may be hidden
    k = min(k, max(span, 0))
    if k == 0:
        return mask
    n_blocks = -(-k // block)
    lengths = np.full(n_blocks, block)
    lengths[-1] = k - block * (n_blocks - 1)
    free = span - k
    min_gap = 1 if free >= n_blocks - 1 else 0
    spare = free - min_gap * (n_blocks - 1)
    for i in range(n):
        order = rng.permutation(lengths)
        # Uniform split of the spare steps into n_blocks + 1 gaps (stars and bars).
        bars = np.sort(rng.choice(spare + n_blocks, size=n_blocks, replace=False))
        gaps = np.diff(np.concatenate(([-1], bars))) - 1  # gap before each block
        start = 1
        for j, (gap, length) in enumerate(zip(gaps, order, strict=True)):
            start += gap + (min_gap if j > 0 else 0)
            mask[i, start : start + length, :] = True
            start += length
    return mask


# ---- baselines -----------------------------------------------------------------------------


def linear_interpolation(values: np.ndarray) -> np.ndarray:
    """Fill NaNs per series and channel by linear interpolation in time.

    Before the first / after the last observed value the nearest observed value is held
    (``np.interp`` behaviour). A channel with no observed value at all is filled with 0.0.
    Returns a new float64 array of the same shape.
    """
    arr = _series(values)
    n, t, d = arr.shape
    rows = arr.transpose(0, 2, 1).reshape(n * d, t).copy()  # never a view of the input
    missing = np.isnan(rows)
    grid = np.arange(t, dtype=np.float64)
    for r in np.flatnonzero(missing.any(axis=1)):
        seen = ~missing[r]
        if seen.any():
            rows[r] = np.interp(grid, grid[seen], rows[r, seen])
        else:
            rows[r] = 0.0
    return rows.reshape(n, d, t).transpose(0, 2, 1).copy()


def persistence_forecast(history: np.ndarray, horizon: int) -> np.ndarray:
    """Repeat the last observed (non-NaN) value of each channel ``horizon`` times.

    A channel with no observed value forecasts 0.0 (as in ``linear_interpolation``).
    """
    if horizon < 0:
        raise ValueError(f"horizon must be >= 0; got {horizon}")
    filled = linear_interpolation(history)
    if filled.shape[1] == 0:
        raise ValueError("history has no time steps")
    return np.repeat(filled[:, -1:, :], horizon, axis=1)


def seasonal_naive_forecast(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Seasonal naive forecast: repeat the last full season of the history.

    ``y[T + h] = y[T - season + (h mod season)]`` for ``h = 0 .. horizon - 1``. Missing
    values in the history are first filled by ``linear_interpolation``. Raises
    ValueError when ``T < season``.
    """
    arr = _series(history, "history")
    if season < 1:
        raise ValueError(f"season must be >= 1; got {season}")
    if horizon < 0:
        raise ValueError(f"horizon must be >= 0; got {horizon}")
    t = arr.shape[1]
    if t < season:
        raise ValueError(f"history has T = {t} steps, fewer than season = {season}")
    last = linear_interpolation(arr)[:, t - season :, :]
    return last[:, np.arange(horizon) % season, :]


def detect_season(
    series: np.ndarray, max_lag: int | None = None, threshold: float = 0.5
) -> int | None:
    """The season of a series from its autocorrelation function (ACF), or None.

    ``series`` is ``(T, D)`` or ``(N, T, D)``; NaNs are filled by linear interpolation.
    The ACF (biased estimator, ``sum x_t x_{t+k} / sum x_t^2`` of the centred series) is
    averaged over all non-constant channels and series; the answer is the lag ``>= 2`` and
    ``<= max_lag`` (default ``T // 3``) of the highest local maximum of that mean that
    exceeds ``threshold``. None when there is none.
    """
    arr = np.asarray(series, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    arr = linear_interpolation(_series(arr, "series"))
    n, t, d = arr.shape
    if max_lag is None:
        max_lag = t // 3
    max_lag = min(int(max_lag), t - 2)  # a local maximum at k needs the ACF at k + 1
    if max_lag < 2:
        return None
    x = arr.transpose(0, 2, 1).reshape(n * d, t)
    x = x - x.mean(axis=1, keepdims=True)
    energy = np.einsum("ij,ij->i", x, x)
    keep = energy > 1e-12 * max(float(energy.max(initial=0.0)), 1e-300)
    if not keep.any():
        return None
    x = x[keep]
    spec = np.fft.rfft(x, n=2 * t, axis=1)
    acov = np.fft.irfft(spec * spec.conj(), n=2 * t, axis=1)[:, : max_lag + 2]
    acf = (acov / acov[:, :1]).mean(axis=0)
    lags = np.arange(2, max_lag + 1)
    peak = (acf[lags] > acf[lags - 1]) & (acf[lags] >= acf[lags + 1]) & (acf[lags] > threshold)
    if not peak.any():
        return None
    candidates = lags[peak]
    return int(candidates[np.argmax(acf[candidates])])


# ---- point scores and CRPS -----------------------------------------------------------------


def _scored(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Differences pred - truth on the scored cells (mask True and truth not NaN)."""
    p = np.asarray(pred, dtype=np.float64)
    y = np.asarray(truth, dtype=np.float64)
    if p.shape != y.shape:
        raise ValueError(f"pred {p.shape} and truth {y.shape} differ in shape")
    valid = ~np.isnan(y)
    if mask is not None:
        valid &= np.broadcast_to(np.asarray(mask, dtype=bool), y.shape)
    if not valid.any():
        raise ValueError("no cell to score (mask empty or truth all NaN)")
    return p[valid] - y[valid]


def mae(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean absolute error over cells where ``mask`` is True (all if None), truth not NaN.

    A NaN prediction on a scored cell makes the result NaN.
    """
    return float(np.mean(np.abs(_scored(pred, truth, mask))))


def mse(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean squared error over cells where ``mask`` is True (all if None), truth not NaN.

    A NaN prediction on a scored cell makes the result NaN.
    """
    return float(np.mean(np.square(_scored(pred, truth, mask))))


def crps_from_samples(samples: np.ndarray, truth: np.ndarray) -> float:
    """CRPS of sampled paths, ``mean|Y - y| - 0.5*mean|Y - Y'|``, averaged over truth cells.

    ``samples`` is ``(S, ...)`` with ``samples.shape[1:] == truth.shape``. The pair term is
    the V-statistic over all ``S^2`` pairs (``i = j`` included), computed by sorting:
    for sorted ``Y_(0) <= .. <= Y_(S-1)``, ``sum_{i,j}|Y_i - Y_j| =
    2*sum_i (2i - S + 1) Y_(i)``. With ``S = 1`` this is the MAE. Cells where the truth is
    NaN are ignored.
    """
    ys = np.asarray(samples, dtype=np.float64)
    y = np.asarray(truth, dtype=np.float64)
    if ys.ndim < 1 or ys.shape[1:] != y.shape:
        raise ValueError(f"samples {ys.shape} must be (S, *truth.shape) with truth {y.shape}")
    s = ys.shape[0]
    if s == 0:
        raise ValueError("no samples")
    valid = ~np.isnan(y)
    if not valid.any():
        raise ValueError("no cell to score (truth all NaN)")
    ys = ys[:, valid]  # (S, cells)
    y = y[valid]
    spread = np.mean(np.abs(ys - y), axis=0)
    weights = 2.0 * np.arange(s) - s + 1.0
    pair_sum = 2.0 * (weights @ np.sort(ys, axis=0))  # sum_{i,j} |Y_i - Y_j| per cell
    return float(np.mean(spread - 0.5 * pair_sum / (s * s)))


def crps_point(pred: np.ndarray, truth: np.ndarray) -> float:
    """CRPS of a deterministic forecast: equal to the MAE (truth NaN cells ignored)."""
    return mae(pred, truth)


# ---- latent recovery -----------------------------------------------------------------------


def pearson_per_dim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation between columns ``a[:, k]`` and ``b[:, k]``: shape ``(K,)``.

    A column with zero variance gives NaN (the correlation is undefined).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"a {a.shape} and b {b.shape} must be equal (M, K) shapes")
    ac = a - a.mean(axis=0)
    bc = b - b.mean(axis=0)
    num = np.einsum("mk,mk->k", ac, bc)
    den = np.sqrt(np.einsum("mk,mk->k", ac, ac) * np.einsum("mk,mk->k", bc, bc))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = num / den
    r[den == 0] = np.nan
    return np.clip(r, -1.0, 1.0)


def fit_linear_readout(
    z: np.ndarray, target: np.ndarray, ridge: float = 1e-6
) -> tuple[np.ndarray, np.ndarray]:
    """Ridge least squares with intercept: ``target ~ z @ W + b``; returns ``(W, b)``.

    ``z`` is ``(M, Dz)``, ``target`` ``(M, K)``; ``W`` is ``(Dz, K)``, ``b`` ``(K,)``. The
    columns of ``z`` are standardised internally and the penalty is ``ridge * M * |W_std|^2``
    (relative to the unit diagonal of the standardised Gram matrix); the intercept is not
    penalised. Solved as an augmented least-squares problem (SVD), stable for ``ridge = 0``.
    """
    z = np.asarray(z, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if z.ndim != 2 or target.ndim != 2 or len(z) != len(target):
        raise ValueError(f"z {z.shape} and target {target.shape} must be (M, Dz) and (M, K)")
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0; got {ridge}")
    m, dz = z.shape
    mu = z.mean(axis=0)
    sd = z.std(axis=0)
    sd[sd == 0] = 1.0
    zs = (z - mu) / sd
    tm = target.mean(axis=0)
    lhs = np.vstack([zs, np.sqrt(ridge * m) * np.eye(dz)])
    rhs = np.vstack([target - tm, np.zeros((dz, target.shape[1]))])
    w_std = np.linalg.lstsq(lhs, rhs, rcond=None)[0]
    w = w_std / sd[:, None]
    return w, tm - mu @ w


def apply_linear_readout(z: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``z @ W + b``: ``(M, Dz)`` -> ``(M, K)``."""
    return np.asarray(z, dtype=np.float64) @ w + b


def latent_recovery(
    z_fit: np.ndarray, s_fit: np.ndarray, z_test: np.ndarray, s_test: np.ndarray
) -> np.ndarray:
    """Latent recovery: fit a linear readout z -> s on the fit split, then return the
    Pearson correlation per dimension of s on the test split, shape ``(K,)``.

    Leading axes are flattened, so ``(N, T, Dz)`` latents with ``(N, T, K)`` states work.
    """

    def flat(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return x.reshape(-1, x.shape[-1])

    w, b = fit_linear_readout(flat(z_fit), flat(s_fit))
    return pearson_per_dim(apply_linear_readout(flat(z_test), w, b), flat(s_test))
