"""`make bench-series`'s summary over training seeds (no training, no statsmodels)."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `benchmarks` is a package at the repository root
    sys.path.insert(0, str(ROOT))

from benchmarks import series  # noqa: E402


def one_seed(crps: float, fill: float) -> dict:
    return {"series": "s", "frequency": "monthly", "length": 50, "channels": 1, "season": 12,
            "horizon": 6, "note": "", "options": "", "train_seconds": 10.0,
            "alternator": {"crps": crps, "mae": 1.0, "coverage": 0.9},
            "holt_winters": {"crps": 2.0, "mae": 2.0, "coverage": 0.8},
            "arima": {"crps": 3.0, "mae": 3.0, "coverage": 0.7},
            "naive": {"crps": 4.0, "mae": 4.0, "coverage": None},
            "imputation": {"alternator": fill, "linear": 5.0, "stl": 4.0,
                           "train_seconds": 10.0, "hidden": 18}}


def test_scores_over_seeds_are_means_and_the_crps_keeps_its_spread():
    runs = [one_seed(1.0, 2.0), one_seed(3.0, 4.0), one_seed(2.0, 3.0)]
    before = copy.deepcopy(runs)
    r = series.over_seeds(runs)
    assert runs == before  # the seeds' own results are left as they were
    assert r["alternator"]["crps"] == pytest.approx(2.0)
    assert r["alternator"]["crps_sd"] == pytest.approx(1.0)
    assert r["alternator"]["crps_per_seed"] == [1.0, 3.0, 2.0]
    assert r["imputation"]["alternator"] == pytest.approx(3.0)
    assert r["imputation"]["hidden"] == 18 and r["naive"]["coverage"] is None
    assert r["seeds"] == 3
    assert "2 ± 1 / 0.90" in series.table([r], "header")


def test_one_seed_is_shown_without_a_spread():
    r = series.over_seeds([one_seed(1.5, 2.0)])
    assert series.cell(r["alternator"]) == "1.5 / 0.90"
    assert series.seed_text(0, 1) == "seed 0" and series.seed_text(0, 3) == (
        "training seeds 0..2")
