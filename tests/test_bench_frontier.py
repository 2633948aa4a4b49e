"""benchmarks/frontier.py without training: its options, the match of a peer's network
evaluations to the alternator's FLOPs per point, and the table and plot of a made-up
result."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `benchmarks` is a package at the repository root
    sys.path.insert(0, str(ROOT))

from benchmarks import frontier, peers  # noqa: E402


def test_the_options_default_to_the_issue_and_refuse_nonsense(capsys):
    args = frontier.parse_args([])
    assert args.steps == [1, 2, 4, 8, 15] and args.budget_s == 20
    assert args.sets == ["pinwheel", "checkerboard", "2spirals", "8gaussians"]
    assert args.lrs == [1e-3, 3e-3] and args.layers == 3
    args = frontier.parse_args(["--sets", "pinwheel", "--budget-s", "0", "--steps", "4,2,2",
                                "--widths", "128,256"])
    assert args.sets == ["pinwheel"] and args.budget_s == 0 and args.steps == [2, 4]
    assert args.widths == [128, 256]
    for bad in (["--sets", "nope"], ["--sets", ","], ["--budget-s", "-1"],
                ["--budget-s", "inf"], ["--steps", "0,2"], ["--steps", "a"],
                ["--lrs", "0"], ["--widths", ""]):
        with pytest.raises(SystemExit) as stop:
            frontier.parse_args(bad)
        assert stop.value.code == 2, bad
    assert "nope" in capsys.readouterr().err


def test_a_peers_flops_per_evaluation_counts_its_matmuls():
    for hidden, layers in ((64, 3), (128, 2)):
        net = peers.TimeMLP(2, hidden, layers)
        macs = sum(m.in_features * m.out_features for m in net.net
                   if isinstance(m, peers.nn.Linear))
        assert frontier.peer_flops_per_eval(2, hidden, layers) == 2 * macs


def test_the_peers_evaluations_fit_the_alternators_flops_and_take_at_least_one():
    per_eval = frontier.peer_flops_per_eval(2, 64, 3)
    assert frontier.matched_nfe(per_eval - 1, per_eval) == 1  # at least one, over budget
    assert frontier.matched_nfe(per_eval, per_eval) == 1
    assert frontier.matched_nfe(27 * per_eval + per_eval - 1, per_eval) == 27
    for budget in (20_560, 127_984, 521_872):
        nfe = frontier.matched_nfe(budget, per_eval)
        assert nfe * per_eval <= budget < (nfe + 1) * per_eval
    # Two-evaluation solvers take half the steps, none when one step does not fit.
    assert frontier.sampler_steps("euler", 7) == 7
    assert frontier.sampler_steps("heun", 7) == 3
    assert frontier.sampler_steps("midpoint", 1) is None
    assert frontier.sampler_steps("dpm++", 1) == 1


def test_a_peer_is_chosen_on_validation_within_the_budget():
    cheap = {"flops": 900, "valid": 3.0}
    dear = {"flops": 1100, "valid": 1.0}
    better = {"flops": 1000, "valid": 2.0}
    assert frontier.choose([cheap, dear], 1000) is cheap
    assert frontier.choose([cheap, dear, better], 1000) is better
    assert frontier.choose([dear, {"flops": 1200, "valid": 0.5}], 1000)["valid"] == 0.5


def _peer(energy: float, flops: int, sampler: str = "euler") -> dict:
    return {"energy": energy, "energy_draws": [energy], "flops": flops, "sampler": sampler,
            "nfe": 3, "width": 64, "lr": 3e-3, "train_cpu_s": 20.0}


def _fake_results() -> dict:
    results = {}
    for name in ["pinwheel", "checkerboard", "2spirals", "8gaussians"]:
        alt = {T: {"energy": 1.0 + 1 / T, "energy_draws": [1.0 + 1 / T], "flops": 1000 * T,
                   "train_cpu_s": 20.0} for T in (1, 2, 4)}
        # The alternator loses on 2spirals at T = 4 and everywhere at T = 1.
        cfm = {T: _peer(0.5 if T == 1 or (name == "2spirals" and T == 4) else 9.0, 900 * T)
               for T in (1, 2, 4)}
        ddpm = {T: _peer(5.0, 1100 * T, "ddim") for T in (1, 2, 4)}
        results[name] = {"alternator": alt, "cfm": cfm, "ddpm": ddpm, "budget_s": 20.0}
    return results


def test_the_table_states_both_budgets_the_winners_and_the_target(tmp_path):
    results = _fake_results()
    sets = list(results)
    table = frontier.markdown(results, sets, [1, 2, 4], 20.0, 20.0, 2, "Host: x")
    assert table.startswith("Host: x\n")
    assert "20 CPU seconds per model (a reduced budget" in table
    assert ("| 2spirals | 4 | 4k | 1.25 (20) | 0.50 (euler, 3 NFE, 4k, w64, lr 0.003, 20 s) |"
            in table)
    assert "5.00 (ddim, 3 NFE, 4k, w64, lr 0.003, 20 s)* | flow matching |" in table  # 4.4k > 4k
    assert "| pinwheel | 2 | 2k | 1.50 (20) |" in table and table.count("| alternator |") == 7
    assert "- T = 4 (4k FLOPs/pt): 3/4 (pinwheel, checkerboard, 8gaussians)" in table
    assert "- T = 1 (1k FLOPs/pt): 0/4 (none)" in table
    assert table.endswith("every budget from 2 steps up: met (at this training budget).")
    results["8gaussians"]["cfm"][2]["energy"] = 0.1
    results["pinwheel"]["ddpm"][2]["energy"] = 0.1
    table = frontier.markdown(results, sets, [1, 2, 4], 414.0, 0.0, 2)
    assert "414 CPU seconds per model (the alternator's default training time" in table
    assert "2 steps up: MISSED" in table
    frontier.plot(results, sets, [1, 2, 4], tmp_path / "frontier.png")
    assert 0 < (tmp_path / "frontier.png").stat().st_size < 150_000


def test_the_table_pairs_the_alternator_with_the_lowest_peer_draw_by_draw():
    """Mean ± standard error per model, and the paired gap to the lowest peer: a gap
    counts as clear only when it exceeds two standard errors of the paired difference."""
    results = _fake_results()
    sets = list(results)
    for name in sets:
        for T in (1, 2, 4):
            base = results[name]["alternator"][T]["energy"]
            results[name]["alternator"][T]["energy_draws"] = [base - 0.1, base + 0.1]
            peer = results[name]["cfm"][T]["energy"]
            # pinwheel's peer moves with the alternator's draws, the others' against them.
            sign = 1 if name == "pinwheel" else -1
            results[name]["cfm"][T]["energy_draws"] = [peer - sign * 0.1, peer + sign * 0.1]
            results[name]["ddpm"][T]["energy_draws"] = [5.0, 5.0]
    # On checkerboard at T = 4 the alternator (1.25) is lowest, but within the noise.
    results["checkerboard"]["ddpm"][4].update(energy=1.3, energy_draws=[1.0, 1.6])
    table = frontier.markdown(results, sets, [1, 2, 4], 20.0, 20.0, 2)
    assert "| pinwheel | 2 | 2k | 1.50 ± 0.10 (20) | 9.00 ± 0.10 (euler," in table
    assert "- T = 1: pinwheel +1.50 ± 0.00, checkerboard +1.50 ± 0.20," in table
    assert ("- T = 4: pinwheel -3.75 ± 0.10, checkerboard -0.05 ± 0.20, 2spirals +0.75 ± 0.20,"
            " 8gaussians -3.75 ± 0.10; lower by more than 2 standard errors on 2/4") in table
    assert "- T = 4 (4k FLOPs/pt): 3/4 (pinwheel, checkerboard, 8gaussians)" in table
