"""The simple models `evaluate` scores beside a table's alternator, fitted on the training
part when it trains and kept in the checkpoint: a multivariate Gaussian, and a mixture of
full-covariance Gaussians with its number of components chosen by BIC (the benchmark's
strongest rival on near-Gaussian tables, docs/benchmarks.md "Tables").

The mixture is fitted by expectation-maximisation on the rows standardised per column
(k-means++ start, a ridge of MIXTURE_RIDGE on every covariance's diagonal in those units),
for K = 1..MAX_COMPONENTS; the K with the lowest

    BIC = -2 log L + p log N,    p = (K - 1) + K D + K D (D + 1) / 2

is kept, mapped back to data units.
"""

from __future__ import annotations

import math

import numpy as np
import torch

MAX_BASELINE_DIM = 512  # a Gaussian baseline's covariance is (D, D): kept up to this D
MAX_MIXTURE_DIM = 64  # K covariances of (D, D), and a fit that grows as D^2: up to this D
MAX_COMPONENTS = 8
MIXTURE_RIDGE = 1e-4  # added to each covariance's diagonal, in standardised units
MIXTURE_ROWS = 10_000  # a larger training part is fitted on a random subset of this size
MIXTURE_WORK = 1e7  # and at most this many rows x D^2 (a fit's cost), at least 16 (D + 1)
MAX_ITER = 100
TOL = 1e-3  # on the mean log-likelihood per row, between iterations
STARTS = 3  # EM runs per K from different k-means starts; the most likely is kept
KMEANS_ITER = 300  # at most; it stops when no label changes


def gaussian_fit(x: np.ndarray) -> dict | None:
    """The multivariate Gaussian of the training rows (N, D). None past MAX_BASELINE_DIM
    columns or under 2 rows."""
    x = np.asarray(x, dtype=np.float64)
    if x.shape[1] > MAX_BASELINE_DIM or len(x) < 2:
        return None
    cov = np.atleast_2d(np.cov(x, rowvar=False))
    return {"mean": torch.from_numpy(x.mean(axis=0)), "cov": torch.from_numpy(cov)}


def fit_baselines(x: np.ndarray, seed: int = 0) -> dict | None:
    """Every baseline that fits the training rows (N, D), by name; None if none does."""
    fitted = {"gaussian": gaussian_fit(x), "mixture": mixture_fit(x, seed)}
    fitted = {k: v for k, v in fitted.items() if v is not None}
    return fitted or None


def mixture_fit(x: np.ndarray, seed: int = 0) -> dict | None:
    """The Gaussian mixture of the rows (N, D) with the lowest BIC (module docstring):
    {"weights": (K,), "means": (K, D), "covs": (K, D, D)} in data units. None past
    MAX_MIXTURE_DIM columns, under 2 (D + 1) rows, or when a column is constant. In torch
    (float64) on one thread: its operations are too small to share, and two threads that
    wait on each other took 4x longer on fair's 5,000 rows beside one busy process."""
    from alternators_cli.engine import one_thread

    with one_thread(torch.device("cpu")):
        return _mixture_fit(x, seed)


def _mixture_fit(x: np.ndarray, seed: int) -> dict | None:
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    if d > MAX_MIXTURE_DIM or n < 2 * (d + 1) or not np.isfinite(x).all():
        return None
    rng = np.random.default_rng(seed)
    rows = min(MIXTURE_ROWS, max(int(MIXTURE_WORK / d**2), 16 * (d + 1)))
    if n > rows:
        x = x[rng.permutation(n)[:rows]]
        n = rows
    centre, scale = x.mean(axis=0), x.std(axis=0)
    if not (scale > 0).all():
        return None
    z = torch.from_numpy((x - centre) / scale)  # (N, D)
    best, best_bic = None, math.inf
    for k in range(1, MAX_COMPONENTS + 1):
        if k * (d + 1) > n:  # fewer rows than a component's covariance needs
            break
        weights, means, covs, mean_ll = max((_em(z, k, rng) for _ in range(STARTS)),
                                            key=lambda fit: fit[3])
        p = (k - 1) + k * d + k * d * (d + 1) / 2
        bic = -2 * n * mean_ll + p * math.log(n)
        if bic < best_bic:
            best, best_bic = (weights, means, covs), bic
    weights, means, covs = best
    scale_t, centre_t = torch.from_numpy(scale), torch.from_numpy(centre)
    return {
        "weights": weights,
        "means": means * scale_t + centre_t,  # (K, D)
        "covs": covs * torch.outer(scale_t, scale_t),  # (K, D, D)
    }


def _em(z: torch.Tensor, k: int, rng: np.random.Generator):
    """EM for a k-component full-covariance mixture of z (N, D), started from k-means."""
    resp = torch.eye(k, dtype=z.dtype)[_kmeans(z, k, rng)]  # (N, K) hard assignments
    weights, means, covs = _m_step(z, resp)
    previous = -math.inf
    for _ in range(MAX_ITER):
        log_p = _log_joint(z, weights, means, covs)  # (N, K): log w_k + log N(z | mu_k, S_k)
        log_lik = torch.logsumexp(log_p, dim=1)  # (N,)
        mean_ll = float(log_lik.mean())
        resp = torch.exp(log_p - log_lik[:, None])
        if abs(mean_ll - previous) < TOL:
            break
        previous = mean_ll
        weights, means, covs = _m_step(z, resp)
    return weights, means, covs, mean_ll


def _kmeans(z: torch.Tensor, k: int, rng: np.random.Generator) -> torch.Tensor:
    """(N,) labels of Lloyd's k-means, run until no label changes, from a greedy k-means++
    start (each centre the best of 2 + log k candidates drawn by squared distance)."""
    n = len(z)
    trials = 2 + int(math.log(k))
    picks = [int(rng.integers(n))]
    d2 = ((z - z[picks[0]]) ** 2).sum(dim=1)  # (N,) to the nearest centre so far
    for _ in range(1, k):
        total = float(d2.sum())
        if total <= 0:
            picks.append(int(rng.integers(n)))
            continue
        candidates = rng.choice(n, size=trials, p=(d2 / total).numpy())
        options = torch.minimum(d2[None], torch.cdist(z[candidates], z) ** 2)  # (trials, N)
        best = int(options.sum(dim=1).argmin())
        picks.append(int(candidates[best]))
        d2 = options[best]
    c = z[picks].clone()  # (K, D)
    labels = _nearest(z, c)
    for _ in range(KMEANS_ITER):
        for j in range(k):
            members = z[labels == j]
            if len(members):
                c[j] = members.mean(dim=0)
        new = _nearest(z, c)
        if torch.equal(new, labels):
            break
        labels = new
    return labels


def _nearest(z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    d2 = (z * z).sum(1)[:, None] - 2 * z @ c.T + (c * c).sum(1)[None, :]  # (N, K)
    return d2.argmin(dim=1)


def _m_step(z: torch.Tensor, resp: torch.Tensor):
    n, d = z.shape
    counts = resp.sum(dim=0) + 10 * torch.finfo(z.dtype).eps  # (K,)
    weights = counts / n
    means = resp.T @ z / counts[:, None]  # (K, D)
    diff = z[None] - means[:, None]  # (K, N, D)
    covs = (resp.T[:, :, None] * diff).transpose(1, 2) @ diff / counts[:, None, None]
    covs += MIXTURE_RIDGE * torch.eye(d, dtype=z.dtype)  # (K, D, D)
    return weights, means, covs


def _log_joint(z: torch.Tensor, weights, means, covs) -> torch.Tensor:
    d = z.shape[1]
    chol = torch.linalg.cholesky(covs)  # (K, D, D): S = L L^T
    eye = torch.eye(d, dtype=z.dtype).expand_as(chol)
    # L^-1 once per component, then one matmul whitens every row: far cheaper than a
    # triangular solve with N right-hand sides.
    inv_t = torch.linalg.solve_triangular(chol, eye, upper=False).transpose(1, 2)  # (K, D, D)
    white = z @ inv_t - means[:, None] @ inv_t  # (K, N, D): L^-1 (z - mu)
    log_det = 2 * torch.log(torch.diagonal(chol, dim1=1, dim2=2)).sum(dim=1)  # (K,)
    log_n = -0.5 * (d * math.log(2 * math.pi) + log_det[:, None]
                    + (white * white).sum(dim=2))  # (K, N)
    return (torch.log(weights)[:, None] + log_n).T


# ---- drawing ---------------------------------------------------------------------------


def draw_gaussian(mean: np.ndarray, cov: np.ndarray, n: int, seed: int) -> np.ndarray:
    """n points of the fitted multivariate Gaussian."""
    rng = np.random.default_rng(seed)
    return rng.multivariate_normal(mean, cov, size=n, method="eigh").astype(np.float32)


def draw_mixture(weights: np.ndarray, means: np.ndarray, covs: np.ndarray, n: int,
                 seed: int) -> np.ndarray:
    """n points of the fitted mixture, in a random order."""
    rng = np.random.default_rng(seed)
    component = rng.choice(len(weights), size=n, p=weights / weights.sum())
    out = np.empty((n, means.shape[1]), dtype=np.float32)
    for j in range(len(weights)):
        at = component == j
        out[at] = rng.multivariate_normal(means[j], covs[j], size=int(at.sum()),
                                          method="eigh")
    return out


def load(stored: dict | None, dim: int) -> dict:
    """The baselines kept in a checkpoint, checked: name -> a function (n, seed) -> (n, D)
    points. Raises ValueError naming what is damaged."""
    stored = stored or {}
    draws = {}
    g = stored.get("gaussian")
    if g is not None:
        mean, cov = _arrays(g, ("mean", "cov"), "Gaussian")
        if mean.shape != (dim,) or cov.shape != (dim, dim):
            raise ValueError("Gaussian")
        draws["gaussian"] = lambda n, seed: draw_gaussian(mean, cov, n, seed)
    m = stored.get("mixture")
    if m is not None:
        weights, means, covs = _arrays(m, ("weights", "means", "covs"), "mixture")
        k = len(weights)
        if (weights.shape != (k,) or not 1 <= k <= MAX_COMPONENTS or (weights < 0).any()
                or abs(weights.sum() - 1) > 1e-6 or means.shape != (k, dim)
                or covs.shape != (k, dim, dim)):
            raise ValueError("mixture")
        draws["mixture"] = lambda n, seed: draw_mixture(weights, means, covs, n, seed)
    return draws


def _arrays(stored, keys: tuple[str, ...], label: str) -> list[np.ndarray]:
    if not isinstance(stored, dict) or not set(keys) <= set(stored) or not all(
            isinstance(stored[k], torch.Tensor) for k in keys):
        raise ValueError(label)
    arrays = [stored[k].double().numpy() for k in keys]
    if not all(np.isfinite(a).all() for a in arrays):
        raise ValueError(label)
    return arrays
