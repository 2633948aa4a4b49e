"""benchmarks/speed.py: its arguments, the authors' sampler imported from a clone at run
time (with stand-ins for the imports it does not sample with), and rows measured in turns."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `benchmarks` is a package at the repository root
    sys.path.insert(0, str(ROOT))

from benchmarks import common, speed  # noqa: E402

FAKE_AUTHORS = textwrap.dedent("""
    import einops
    import torch
    from sklearn.neighbors import KernelDensity

    class Alt_static(torch.nn.Module):
        def __init__(self, latent_dim, obser_dim, noise_max, n_layers, number_step, alpha,
                     device):
            super().__init__()
            self.net = torch.nn.Linear(latent_dim, obser_dim)
            self.number_step = number_step

        def forward(self, obsrv, eps_x_org, eps_z_org, obsr_enable, enabled_noise=True):
            self.calls = (obsr_enable, enabled_noise, len(obsrv))
            self.x_hat = self.net(eps_z_org).expand(self.number_step, -1, -1)
            return None, self.x_hat

    def init_weights(m):
        for p in m.parameters():
            torch.nn.init.uniform_(p, -0.2, 0.2)
""")


def _speed(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmarks.speed", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args, message", [
    (["--authors", "/nonexistent/clone"], "no alternators_static.py in /nonexistent/clone"),
    (["--only", "sampling,bogus"], "not sections: bogus"),
])
def test_bad_arguments_exit_2_before_any_work(args, message):
    done = _speed(*args)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert "python -m benchmarks.speed" in done.stderr and done.stdout == ""


def test_arguments_parse_to_sections_and_a_clone(tmp_path):
    (tmp_path / "alternators_static.py").write_text(FAKE_AUTHORS)
    args = speed.parse_args(["--authors", str(tmp_path), "--only", "authors, process"])
    assert args.authors == tmp_path.resolve() and args.only == ("authors", "process")
    assert speed.parse_args([]).only is None and speed.parse_args([]).authors is None


def test_the_authors_sampler_is_imported_from_the_clone_with_stand_ins(tmp_path, monkeypatch):
    (tmp_path / "alternators_static.py").write_text(FAKE_AUTHORS)
    monkeypatch.setitem(sys.modules, "einops", None)  # as if not installed
    monkeypatch.delitem(sys.modules, speed.AUTHORS_MODULE, raising=False)
    theirs = speed.AuthorsSampler(speed.load_authors(tmp_path))
    assert sys.modules["einops"].__doc__.startswith("stand-in")
    points = theirs.sample(2500)
    assert theirs.model.calls == (False, True, 500)  # their sampling call, batches of 1000
    assert points.shape == (500, 2) and not points.requires_grad
    assert theirs.params == 20 * 2 + 2 and theirs.flops == 2 * 14 * 20 * 2


def test_without_a_clone_the_authors_row_says_how_to_measure_it():
    rows, best = speed.authors_rows(None, quick=True)
    assert best is None and len(rows) == 1
    assert "not measured (give --authors PATH to a clone of vertaix/Alternators)" in rows[0]


def test_paired_runs_take_turns_and_give_each_its_median():
    calls = []
    seconds = common.paired_medians({"a": lambda: calls.append("a"),
                                     "b": lambda: calls.append("b")}, 3)
    assert calls == ["a", "b"] * 4  # a warm-up of each, then in turns
    assert set(seconds) == {"a", "b"} and all(s >= 0 for s in seconds.values())


def test_the_busy_rows_say_which_thread_count_each_run_picked():
    assert speed.threads_picked([1, 1, 1]) == "1"
    assert speed.threads_picked([2, 1, 2]) == "2 / 1 / 2"
    assert speed.threads_picked([None]) == "?"


def test_a_benchmark_trainer_trains_on_the_count_it_was_built_at():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert common.builtin_trainer("pinwheel", 0, {}).threads() == 2  # not re-measured
        assert common.builtin_trainer("pinwheel", 0, {"threads": 1}).threads() == 1
    finally:
        torch.set_num_threads(before)
