"""benchmarks/quality.py: topping a kept result up to more evaluation draws gives the row a
full run would have given, and the kept results' keys do not depend on the draws (nor the
peers' on settings only the alternator reads); the training-time target is judged by one
timed default run, not by the lanes' runs."""

from __future__ import annotations

import statistics
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import quality  # noqa: E402


@pytest.fixture
def fake_score(monkeypatch):
    """score() as a function of the evaluation seed only (the real one takes seconds)."""
    calls = []

    def score(points, name, seed):
        calls.append(seed)
        rng = np.random.default_rng(seed)
        return {"energy_distance": float(rng.uniform(0.5, 4)), "mmd": float(rng.uniform()),
                "sliced_w2": float(rng.uniform()), "modes": int(rng.integers(6, 9))}

    monkeypatch.setattr(quality, "score", score)
    return calls


def test_topping_up_equals_scoring_all_draws_at_once(fake_score):
    def draw(j):
        return np.zeros((1, 2))

    full = quality.score_draws(np.zeros((1, 2)), draw, "8gaussians", 3, 7)
    kept = quality.score_draws(np.zeros((1, 2)), draw, "8gaussians", 3, 4)
    fake_score.clear()
    topped = quality.score_draws(np.zeros((1, 2)), draw, "8gaussians", 3, 7, kept)

    assert fake_score == [3 + 1000 * j for j in (4, 5, 6)]  # only the missing draws
    assert topped["energy_draws"] == full["energy_draws"]
    for key in ("energy_distance", "mmd", "sliced_w2"):
        assert topped[key] == pytest.approx(full[key], rel=1e-12)
    assert topped["modes"] == full["modes"]  # the worst draw
    assert full["energy_distance"] == pytest.approx(statistics.mean(full["energy_draws"]))


def test_the_kept_results_key_is_the_settings_not_the_draws():
    assert quality.fingerprint({}) == quality.fingerprint({})
    assert quality.fingerprint({}) != quality.fingerprint({"epochs": 3})


def test_a_setting_added_later_keeps_the_key_of_runs_before_it_at_their_value():
    # Kept runs before schedule_rho existed ran the linear schedule: same key at rho = 1.
    assert quality.fingerprint({"schedule_rho": 1.0}) == quality.fingerprint({})
    settings = quality.DistributionSettings(device="cpu").model_dump()
    assert "schedule_rho" in settings  # the setting exists, the key just leaves it out at 1
    assert quality.fingerprint({"schedule_rho": 3.0}) != quality.fingerprint({})
    # Likewise the activation: runs before it existed ran silu, whatever today's default.
    assert "activation" in settings
    assert quality.SETTINGS_ADDED_SINCE_KEPT_RUNS["activation"] == "silu"
    assert quality.fingerprint({"activation": "relu"}) != quality.fingerprint(
        {"activation": "silu"})


def test_the_peers_key_ignores_settings_only_the_alternator_reads():
    base = quality.peer_fingerprint({})
    # The peers never read the learning rate, the EMA, the noise schedule or the
    # alternator's T (they sample in the issue's 15 steps)...
    for alternator_only in ({"ema": 0.9}, {"lr": 1e-3}, {"alpha": 0.5}, {"noise_max": 0.5},
                            {"schedule_rho": 3.0}, {"steps": 10}, {"steps": 12},
                            {"linear_skip": False}):
        assert quality.peer_fingerprint(alternator_only) == base, alternator_only
        assert quality.fingerprint(alternator_only) != quality.fingerprint({}), alternator_only
    # ...but they train for as many optimiser steps, at the width the alternator's
    # parameter count gives them.
    for shared in ({"epochs": 3}, {"batch_size": 250}, {"hidden": 32},
                   {"opn_fourier_features": 16}):
        assert quality.peer_fingerprint(shared) != base, shared


def test_a_row_kept_before_draws_existed_counts_as_one_draw(tmp_path):
    kept = quality.Kept(tmp_path, "key", fresh=False)
    old_row = {"energy_distance": 2.5, "mmd": 1.0, "sliced_w2": 1.0}  # no "energy_draws"
    kept.put("alternator", "pinwheel", 0, old_row, np.zeros((1, 2)))
    row, points = kept.get("alternator", "pinwheel", 0)
    assert row["energy_draws"] == [2.5]
    assert points.shape == (1, 2)


@pytest.mark.parametrize("args, message", [
    (["--eval-draws", "0"], "--eval-draws: must be at least 1 (got 0)"),
    (["--seeds", "-1"], "--seeds: must be at least 1 (got -1)"),
    (["--sets", "pinwheel,lorenz"], "--sets: not built-in 2-D sets: lorenz"),
])
def test_bad_arguments_exit_2_before_any_work(args, message, tmp_path):
    script = Path(quality.__file__)
    done = subprocess.run([sys.executable, str(script), *args, "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == "" and list(tmp_path.iterdir()) == []


def test_an_out_that_is_a_file_exits_2_and_leaves_the_file(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("keep me\n")
    script = Path(quality.__file__)
    done = subprocess.run([sys.executable, str(script), "--out", str(taken)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "--out: cannot create directory" in done.stderr and "Traceback" not in done.stderr
    assert taken.read_text() == "keep me\n" and sorted(tmp_path.iterdir()) == [taken]


def _results(ratio: float, train_s: float) -> dict:
    row = {"energy_distance": ratio, "mmd": 1.0, "sliced_w2": 1.0, "train_s": train_s,
           "sample_s": 0.1, "threads": 1, "energy_draws": [ratio]}
    return {"alternator": {"pinwheel": [row]}}


def test_the_training_time_target_is_judged_by_the_timed_run_alone():
    # Slow lane runs (1000 s each) do not fail the target; the timed default run decides it.
    results = _results(1.2, 1000.0)
    timed = {"set": "pinwheel", "seed": 0, "threads": 2, "train_s": 150.0,
             "matmul_gflops": 200.0}
    met = quality.markdown(results, ["pinwheel"], ["alternator"], 1, {}, timed)
    assert "- pinwheel: energy ratio 1.20 (target <= 1.5): met" in met
    assert "150.0s (target <= 180s): met" in met and "matmul peak 200.0 GFLOP/s" in met
    slow = quality.markdown(results, ["pinwheel"], ["alternator"], 1, {},
                            {**timed, "train_s": 181.0})
    assert "181.0s (target <= 180s): MISSED" in slow
    untimed = quality.markdown(results, ["pinwheel"], ["alternator"], 1, {})
    assert "default training time: not measured" in untimed
    assert "MISSED" not in untimed


def test_a_timed_default_run_trains_and_reports_its_seconds_and_the_host():
    threads = quality.torch.get_num_threads()
    try:
        timed = quality.timed_default_run(1, {"epochs": 1})
    finally:
        quality.torch.set_num_threads(threads)
    assert timed["set"] == "pinwheel" and timed["threads"] == 1
    assert timed["train_s"] > 0 and timed["matmul_gflops"] > 0


def test_the_peers_sample_in_the_issues_15_steps_whatever_the_alternators_T(monkeypatch):
    steps_seen = []

    def sample_peer(kind, net, n, dim, steps, seed):
        steps_seen.append(steps)
        return quality.torch.zeros(n, dim)

    fake_peers = types.SimpleNamespace(hidden_for_params=lambda dim, target, layers: 8,
                                       train_peer=lambda *args: "net", sample_peer=sample_peer)
    monkeypatch.setitem(sys.modules, "peers", fake_peers)
    like = quality.alternator_trainer("pinwheel", 0, {"steps": 5, "epochs": 1})
    assert like.model.steps == 5
    *_, draw = quality.run_peer("ddpm", "pinwheel", 0, like, opt_steps=1)
    draw(1)
    assert steps_seen == [quality.PEER_SAMPLING_STEPS] * 2 and quality.PEER_SAMPLING_STEPS == 15


def test_a_changed_generator_changes_the_kept_runs_key(monkeypatch):
    # Unchanged since runs were kept under the bare name: those runs are still theirs.
    for name in ("checkerboard", "2spirals", "8gaussians"):
        assert quality.kept_name(name) == name
    # pinwheel's handedness changed: runs of the mirror image are not reused.
    assert quality.kept_name("pinwheel") == (
        "pinwheel-data" + quality.data_fingerprint("pinwheel"))
    assert quality.kept_name("pinwheel") != "pinwheel"
    # Any later change to a generator changes its key, and only its own.
    real = quality.draw_builtin
    monkeypatch.setattr(quality, "draw_builtin", lambda name, n, seed: (
        real(name, n, seed) * (1.01 if name == "checkerboard" else 1.0)))
    assert quality.kept_name("checkerboard") != "checkerboard"
    assert quality.kept_name("2spirals") == "2spirals"
