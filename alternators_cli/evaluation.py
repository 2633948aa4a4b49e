"""Quality reports (SPEC section 5): samples against a reference, beside the floor.

A built-in reference is drawn fresh, in data units (its axes share one unit): the floor
uses 3 pairs of independent draws of n points.

A table (a held-out part or a user's test file, M rows) is scored in standardised units,
every column divided by the reference's own standard deviation, so that no column's unit
dominates a distance. n samples are compared with all M rows, and the floor is what a
perfect model scores at those sizes: for the energy distance (a V-statistic)
`E = delta (1/n + 1/M)` with `delta = E|X - X'|` estimated from the reference, for MMD^2
`(1/n + 1/M) (1 - E k(X, X'))`, for sliced W2 disjoint halves of the reference rescaled to
the sizes. Beside the ratios: the unbiased energy distance (the U-statistic, about 0 for a
perfect model) with a bootstrap interval over the reference rows, a classifier two-sample
test, and the same figures for baselines fitted on the training part.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from alternators_cli import metrics
from alternators_cli.datasets import BUILTINS, draw_builtin
from alternators_cli.errors import BadInput

FLOOR_PAIRS = 3
MAX_REFERENCE_ROWS = 5000  # a larger reference is subsampled: the figures are already tight
BOOTSTRAP = 200  # resamples of the reference rows for the interval
BOOTSTRAP_ROWS = 2000  # at most this many reference rows enter the bootstrap
C2ST_ROWS = 1000  # at most this many rows of each side enter the classifier test
FEW_ROWS = 100  # fewer reference rows than this: the report says not to trust a verdict


@dataclass
class Reference:
    name: str
    builtin: bool
    points: np.ndarray | None = None  # (M, D) for a table
    columns: list[str] | None = None  # a file's column names, in the order of `points`

    @property
    def dim(self) -> int:
        return BUILTINS[self.name].dim if self.builtin else self.points.shape[1]

    def max_n(self) -> int | None:
        """No cap: a table's floor accounts for its size (the module's docstring)."""
        return None


def _check(samples: np.ndarray, reference: Reference) -> None:
    if samples.ndim != 2:
        raise BadInput(f"samples must be a table [n, D], got shape {list(samples.shape)}")
    if samples.shape[1] != reference.dim:
        raise BadInput(
            f"samples have {samples.shape[1]} column(s) but the reference {reference.name!r} "
            f"has {reference.dim}"
        )
    if not np.isfinite(samples).all():
        raise BadInput("samples contain NaN or infinite values")
    if len(samples) < 2:
        raise BadInput(f"need at least 2 samples to evaluate (got {len(samples)})")


def report(
    samples: np.ndarray,
    reference: Reference,
    n: int,
    seed: int,
    baselines: dict[str, np.ndarray] | None = None,
) -> dict:
    """Metric values, floors and ratios for the first `n` samples (fewer if fewer given);
    for a table also the unbiased energy distance with its interval, the classifier test,
    and each of `baselines` (name -> its samples) scored the same way."""
    _check(samples, reference)
    if not reference.builtin and len(reference.points) < 4:
        raise BadInput(f"reference {reference.name!r} has too few rows (need at least 4)")
    n_eff = min(n, len(samples))
    rng = np.random.default_rng(seed)
    s = samples[rng.permutation(len(samples))[:n_eff]] if len(samples) > n_eff else samples
    if reference.builtin:
        draws = [
            draw_builtin(reference.name, n_eff, seed * 1000 + 1 + i)
            for i in range(1 + 2 * FLOOR_PAIRS)
        ]
        ref, pairs = draws[0], [(draws[1 + 2 * i], draws[2 + 2 * i]) for i in range(FLOOR_PAIRS)]
        result = metrics.evaluate(s, ref, pairs)
        result.update(n=int(n_eff), n_reference=int(n_eff), reference=reference.name,
                      units="data")
        return result
    pts = np.asarray(reference.points, dtype=np.float64)
    if len(pts) > MAX_REFERENCE_ROWS:
        pts = pts[np.sort(rng.permutation(len(pts))[:MAX_REFERENCE_ROWS])]
    scale = pts.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    table = TableScorer(pts / scale, seed)
    result = table.score(s / scale)
    result.update(n=int(n_eff), n_reference=len(pts), reference=reference.name,
                  units="standardised")
    if baselines:
        result["baselines"] = {}
        for name, points in baselines.items():
            _check(points, reference)
            b = points[:n_eff]
            result["baselines"][name] = table.score(b / scale)
    if len(pts) < FEW_ROWS:
        result["warning"] = (
            f"only {len(pts)} reference rows: differences inside the intervals are noise, "
            f"too few for a verdict between close models (aim for {FEW_ROWS} or more)"
        )
    return result


class TableScorer:
    """Scores point sets against one standardised reference R (M, D), sharing what depends
    on R alone: its bandwidth, the floors' reference terms, the bootstrap weights."""

    def __init__(self, reference: np.ndarray, seed: int):
        self.R = reference
        self.M = len(reference)
        self.seed = seed
        self.bandwidth = metrics.median_bandwidth(reference)
        R = torch.as_tensor(reference, dtype=torch.float64)
        gamma = 1.0 / (2 * self.bandwidth**2)
        d_rr, k_rr = metrics.pair_means(R, R, gamma)  # over all M^2 pairs, i = j too
        off = self.M / (self.M - 1)
        self.delta_r = d_rr * off  # E|X - X'|, off-diagonal mean
        self.kappa_r = (k_rr - 1 / self.M) * off  # E k(X, X'), off-diagonal
        rng = np.random.default_rng(seed + 17)
        self.sw2_unit = []  # SW2^2 of disjoint halves, per (1/a + 1/b)
        for _ in range(FLOOR_PAIRS):
            order = rng.permutation(self.M)
            half = self.M // 2
            a, b = reference[order[:half]], reference[order[half : 2 * half]]
            self.sw2_unit.append(metrics.sliced_w2(a, b) ** 2 / (2 / half))
        boot_rows = min(self.M, BOOTSTRAP_ROWS)
        self.boot_index = np.sort(rng.permutation(self.M)[:boot_rows])
        Rb = R[self.boot_index].float()
        self.d_rr_boot = torch.cdist(Rb, Rb, compute_mode=metrics.EXACT).double()  # (m, m)
        counts = rng.multinomial(boot_rows, np.full(boot_rows, 1 / boot_rows), BOOTSTRAP)
        self.weights = torch.as_tensor(counts, dtype=torch.float64)  # (B, m)

    def score(self, s: np.ndarray) -> dict:
        n, M = len(s), self.M
        values = metrics.all_metrics(s, self.R, self.bandwidth)
        floors = {
            "energy_distance": self.delta_r * (1 / n + 1 / M),
            "mmd": max(1 - self.kappa_r, 0.0) * (1 / n + 1 / M),
            "sliced_w2": math.sqrt(float(np.mean(self.sw2_unit)) * (1 / n + 1 / M)),
        }
        result = {}
        for k in metrics.METRICS:
            floor = floors[k]
            result[k] = {"value": values[k], "floor": floor,
                         "ratio": values[k] / floor if floor > 0 else float("inf")}
        excess, bias = self._excess_energy(s, values["energy_distance"])
        energy = result["energy_distance"]
        if energy["floor"] > 0:  # V = U + the bias terms: the ratio's interval from U's
            energy["ratio_low"] = (excess["low"] + bias) / energy["floor"]
            energy["ratio_high"] = (excess["high"] + bias) / energy["floor"]
        result["excess_energy"] = excess
        result["c2st"] = classifier_two_sample(s, self.R, self.seed)
        return result

    def _excess_energy(self, s: np.ndarray, energy_v: float) -> tuple[dict, float]:
        """U-statistic energy distance 2 E|S-R| - E|S-S'| - E|R-R'| (off-diagonal means;
        about 0 for a perfect model, negative by chance), and a 95 % interval from
        resampling the reference rows (the sample side is large and held fixed); with the
        V-statistic's bias over it, delta_s / n + delta_r / M. The samples' own mean
        distance comes from `energy_v` (the V-statistic, already computed), not from a
        second pass over the n^2 sample pairs."""
        S = torch.as_tensor(s, dtype=torch.float64)
        R = torch.as_tensor(self.R, dtype=torch.float64)
        n, M = len(S), self.M
        col = torch.zeros(M, dtype=torch.float64)  # mean |S_i - R_j| over i, per j
        for start in range(0, n, metrics.PAIR_BLOCK):
            block = S[start : start + metrics.PAIR_BLOCK].float()
            col += torch.cdist(block, R.float(), compute_mode=metrics.EXACT).double().sum(0)
        col /= n
        # V = 2 E|S-R| - E_all|S-S'| - E_all|R-R'|, every mean over all pairs (i = k too).
        d_ss = 2 * float(col.mean()) - self.delta_r * (M - 1) / M - energy_v
        delta_s = d_ss * n / (n - 1)
        value = float(2 * col.mean() - delta_s - self.delta_r)
        w = self.weights  # (B, m)
        m = w.shape[1]
        cross = 2 * (w @ col[self.boot_index]) / m  # (B,)
        within = ((w @ self.d_rr_boot) * w).sum(1) / (m * m - (w * w).sum(1))  # (B,)
        # The subset's own estimate, so the interval is centred on the full-data value.
        own = float(2 * col[self.boot_index].mean() - delta_s
                    - self.d_rr_boot.sum() / (m * (m - 1)))
        boot = (cross - delta_s - within).numpy() - own + value
        low, high = np.quantile(boot, [0.025, 0.975])
        bias = delta_s / n + self.delta_r / self.M
        return {"value": value, "low": float(low), "high": float(high), "level": 0.95}, bias


def classifier_two_sample(s: np.ndarray, r: np.ndarray, seed: int) -> dict:
    """Classifier two-sample test: leave-one-out k-nearest-neighbour accuracy at telling
    m samples from m reference rows (standardised units). 0.5: indistinguishable; 1: every
    point given away. k = the odd number nearest sqrt(2m), at most 25."""
    rng = np.random.default_rng(seed + 29)
    m = min(len(s), len(r), C2ST_ROWS)
    a = s[rng.permutation(len(s))[:m]]
    b = r[rng.permutation(len(r))[:m]]
    pool = torch.as_tensor(np.concatenate([a, b]), dtype=torch.float32)  # (2m, D)
    labels = torch.cat([torch.zeros(m), torch.ones(m)])
    k = min(25, max(1, int(round(math.sqrt(2 * m))) | 1))
    d = torch.cdist(pool, pool, compute_mode=metrics.EXACT)
    d.fill_diagonal_(float("inf"))
    k = min(k, 2 * m - 1)
    nearest = d.topk(k, largest=False).indices  # (2m, k)
    votes = labels[nearest].mean(1)
    guess = (votes > 0.5).float()
    ties = votes == 0.5
    guess[ties] = (torch.rand(int(ties.sum()), generator=torch.Generator().manual_seed(seed))
                   < 0.5).float()
    accuracy = float((guess == labels).float().mean())
    stderr = math.sqrt(0.25 / (2 * m))  # under "indistinguishable"
    return {"accuracy": accuracy, "stderr": stderr, "k": k, "n": 2 * m}

