"""Quality reports (SPEC section 5): samples against a reference, beside the floor.

A reference is either a built-in set (fresh draws: the floor uses 3 pairs of independent
draws) or a table of points (the floor uses 3 pairs of disjoint random halves, so `n` is
capped at half its rows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alternators_cli import metrics
from alternators_cli.data import BUILTINS, draw_builtin
from alternators_cli.errors import BadInput

FLOOR_PAIRS = 3


@dataclass
class Reference:
    name: str
    builtin: bool
    points: np.ndarray | None = None  # (M, D) for a table

    @property
    def dim(self) -> int:
        return BUILTINS[self.name].dim if self.builtin else self.points.shape[1]

    def max_n(self) -> int | None:
        return None if self.builtin else len(self.points) // 2


def report(samples: np.ndarray, reference: Reference, n: int, seed: int) -> dict:
    """Metric values, floors and ratios for the first `n` samples (fewer if fewer given)."""
    if samples.ndim != 2:
        raise BadInput(f"samples must be a table [n, D], got shape {list(samples.shape)}")
    if samples.shape[1] != reference.dim:
        raise BadInput(
            f"samples have {samples.shape[1]} column(s) but the reference {reference.name!r} "
            f"has {reference.dim}"
        )
    if not np.isfinite(samples).all():
        raise BadInput("samples contain NaN or infinite values")
    cap = reference.max_n()
    if cap is not None and cap < 2:
        raise BadInput(f"reference {reference.name!r} has too few rows (need at least 4)")
    n_eff = min(n, len(samples), cap if cap is not None else n)
    if n_eff < 2:
        raise BadInput(f"need at least 2 samples to evaluate (got {len(samples)})")
    rng = np.random.default_rng(seed)
    s = samples[rng.permutation(len(samples))[:n_eff]] if len(samples) > n_eff else samples
    if reference.builtin:
        draws = [
            draw_builtin(reference.name, n_eff, seed * 1000 + 1 + i)
            for i in range(1 + 2 * FLOOR_PAIRS)
        ]
        ref, pairs = draws[0], [(draws[1 + 2 * i], draws[2 + 2 * i]) for i in range(FLOOR_PAIRS)]
    else:
        pts = reference.points
        ref = pts[rng.permutation(len(pts))[:n_eff]]
        pairs = []
        for _ in range(FLOOR_PAIRS):
            order = rng.permutation(len(pts))
            pairs.append((pts[order[:n_eff]], pts[order[n_eff : 2 * n_eff]]))
    result = metrics.evaluate(s, ref, pairs)
    result["n"] = int(n_eff)
    result["reference"] = reference.name
    return result
