"""Sample-quality metrics of SPEC section 5, each reported beside its floor.

All metrics compare point sets S (n, D) and R (m, D) in data units, in float64.
"""

from __future__ import annotations

import numpy as np
import torch

METRICS = ("energy_distance", "mmd", "sliced_w2")
SLICED_DIRECTIONS = 256
SLICED_SEED = 1234
EXACT = "donot_use_mm_for_euclid_dist"  # the matmul shortcut loses digits on near pairs
PAIR_BLOCK = 2048  # rows per block of pairwise distances: bounded memory for large n


def _as_t(x: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x), dtype=torch.float64)


def pair_means(a: torch.Tensor, b: torch.Tensor, gamma: float) -> tuple[float, float]:
    """(mean |a_i - b_j|, mean exp(-gamma |a_i - b_j|^2)) over all pairs, in row blocks.

    Distances are computed in float32 (ample for 2-D..high-D points in data units) and
    summed in float64, so the V-statistics keep their precision at n = 5000 and beyond.
    """
    a32, b32 = a.float(), b.float()
    dist_sum, kern_sum = 0.0, 0.0
    for start in range(0, len(a32), PAIR_BLOCK):
        d = torch.cdist(a32[start : start + PAIR_BLOCK], b32, compute_mode=EXACT)
        dist_sum += float(d.sum())
        kern_sum += float(d.square_().mul_(-gamma).exp_().sum())
    pairs = len(a) * len(b)
    return dist_sum / pairs, kern_sum / pairs


def energy_and_mmd(s: np.ndarray, r: np.ndarray, bandwidth: float) -> tuple[float, float]:
    """Energy distance and biased MMD^2 (SPEC section 5), sharing one distance pass.

    energy = 2 mean|S_i - R_j| - mean|S_i - S_k| - mean|R_j - R_l|   (all pairs, i = k too)
    MMD^2  = mean k(S, S) + mean k(R, R) - 2 mean k(S, R),  k = exp(-d^2 / (2 h^2))
    """
    S, R = _as_t(s), _as_t(r)
    gamma = 1.0 / (2 * bandwidth**2)
    d_sr, k_sr = pair_means(S, R, gamma)
    d_ss, k_ss = pair_means(S, S, gamma)
    d_rr, k_rr = pair_means(R, R, gamma)
    return 2 * d_sr - d_ss - d_rr, k_ss + k_rr - 2 * k_sr


def energy_distance(s: np.ndarray, r: np.ndarray) -> float:
    return energy_and_mmd(s, r, 1.0)[0]


def mmd2(s: np.ndarray, r: np.ndarray, bandwidth: float) -> float:
    return energy_and_mmd(s, r, bandwidth)[1]


BANDWIDTH_POINTS = 8192  # above this many reference points, the median is of a subsample


def median_bandwidth(r: np.ndarray) -> float:
    """Median pairwise distance (i < j) of the reference points (of BANDWIDTH_POINTS of
    them, drawn with a fixed seed, for a larger reference: memory stays bounded)."""
    R = _as_t(r).float()
    if len(R) < 2:
        return 1.0
    if len(R) > BANDWIDTH_POINTS:
        g = torch.Generator().manual_seed(SLICED_SEED)
        R = R[torch.randperm(len(R), generator=g)[:BANDWIDTH_POINTS]]
    n, cols = len(R), torch.arange(len(R))
    parts = []  # the upper triangle, row by row, without the full n x n matrix
    for start in range(0, n, PAIR_BLOCK):
        rows = torch.arange(start, min(start + PAIR_BLOCK, n))
        d = torch.cdist(R[rows], R, compute_mode=EXACT)
        parts.append(d[cols[None, :] > rows[:, None]])
    med = float(torch.cat(parts).median())
    return med if med > 0 else 1.0


def sliced_w2(s: np.ndarray, r: np.ndarray, directions: int = SLICED_DIRECTIONS) -> float:
    """sqrt(mean over random unit directions of W2^2 between the 1-D projections)."""
    S, R = _as_t(s), _as_t(r)
    g = torch.Generator().manual_seed(SLICED_SEED)
    theta = torch.randn(S.shape[1], directions, generator=g, dtype=torch.float64)
    theta = theta / theta.norm(dim=0, keepdim=True)  # (D, K) unit columns
    ps = torch.sort(S @ theta, dim=0).values  # (n, K)
    pr = torch.sort(R @ theta, dim=0).values  # (m, K)
    if len(ps) != len(pr):  # compare quantile functions on a common grid
        q = (torch.arange(max(len(ps), len(pr)), dtype=torch.float64) + 0.5) / max(
            len(ps), len(pr)
        )
        ps = torch.quantile(ps, q, dim=0)
        pr = torch.quantile(pr, q, dim=0)
    return float(torch.sqrt(((ps - pr) ** 2).mean()))


def all_metrics(s: np.ndarray, r: np.ndarray, bandwidth: float) -> dict[str, float]:
    energy, mmd = energy_and_mmd(s, r, bandwidth)
    return {"energy_distance": energy, "mmd": mmd, "sliced_w2": sliced_w2(s, r)}


def evaluate(
    samples: np.ndarray,
    reference: np.ndarray,
    floor_pairs: list[tuple[np.ndarray, np.ndarray]],
) -> dict[str, dict[str, float]]:
    """Each metric's value (samples vs reference), floor (mean over reference pairs), ratio."""
    bandwidth = median_bandwidth(reference)
    values = all_metrics(samples, reference, bandwidth)
    floors = {k: 0.0 for k in METRICS}
    for a, b in floor_pairs:
        for k, v in all_metrics(a, b, bandwidth).items():
            floors[k] += v / len(floor_pairs)
    result = {}
    for k in METRICS:
        floor = floors[k]
        ratio = values[k] / floor if floor > 0 else float("inf")
        result[k] = {"value": values[k], "floor": floor, "ratio": ratio}
    return result
