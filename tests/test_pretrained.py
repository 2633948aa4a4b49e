"""The checkpoints shipped inside the package: usable offline by name, and good."""

import json

import pytest
from typer.testing import CliRunner

from alternators_cli import checkpoint, engine, evaluation
from alternators_cli.cli import app
from alternators_cli.datasets import REQUIRED

runner = CliRunner()


def test_the_four_required_sets_ship_a_checkpoint_and_datasets_marks_them():
    assert set(REQUIRED) <= set(checkpoint.pretrained_names())
    rows = json.loads(runner.invoke(app, ["datasets", "--json"]).stdout)
    marked = {r["name"] for r in rows if r["pretrained"]}
    assert marked == set(checkpoint.pretrained_names()) & {r["name"] for r in rows}


@pytest.mark.parametrize("name", REQUIRED)
def test_pretrained_checkpoint_samples_well(name):
    ckpt = checkpoint.load(f"pretrained:{name}")
    assert ckpt.data["name"] == name and not checkpoint.can_resume(ckpt.payload)
    points = engine.sample(ckpt.model, ckpt.normalizer, 1000, seed=0)
    report = evaluation.report(points, evaluation.Reference(name, True), 1000, seed=0)
    # At n = 1000 a model at the floor scores about 1; a broken one scores in the hundreds.
    assert report["energy_distance"]["ratio"] < 4


def test_pretrained_works_in_every_command(tmp_path):
    spec = "pretrained:pinwheel"
    assert runner.invoke(app, ["info", "-c", spec, "--json"]).exit_code == 0
    out = runner.invoke(app, ["sample", "-c", spec, "-n", "5"])
    assert out.exit_code == 0 and len(out.stdout.splitlines()) == 6
    assert runner.invoke(app, ["evaluate", "-c", spec, "-n", "300", "--json"]).exit_code == 0
    gif = tmp_path / "a.gif"
    assert runner.invoke(app, ["animate", "-c", spec, "-n", "200", "-o", str(gif)]).exit_code == 0
    assert gif.stat().st_size > 0


def test_unknown_pretrained_name_is_a_bad_input():
    result = runner.invoke(app, ["sample", "-c", "pretrained:nosuch"])
    assert result.exit_code == 2
    assert "no pretrained checkpoint 'nosuch'" in result.stderr


def test_resume_refuses_a_sampling_only_checkpoint(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.pt").write_bytes(checkpoint.resolve_path("pretrained:pinwheel").read_bytes())
    result = runner.invoke(app, ["train", "pinwheel", "--out", str(run), "--resume",
                                 "--epochs", "600"])
    assert result.exit_code == 2
    assert "no training state" in result.stderr


def test_pretrained_lorenz_forecasts_better_than_persistence(tmp_path):
    from alternators_cli import sequence_metrics, sequences

    ckpt = checkpoint.load("pretrained:lorenz", kind="sequence")
    segs, _ = sequences.lorenz_heldout(8, 84, seed=5)
    history, future = segs[:, :-20], segs[:, -20:]
    paths = sequences.forecast(ckpt.model, ckpt.normalizer, history, 20, 20, seed=0)
    crps = sequence_metrics.crps_from_samples(paths[:, :, -1], future[:, -1])
    persistence = sequence_metrics.persistence_forecast(history, 20)[:, -1]
    # A broken or untrained model is no better than repeating the last value.
    assert crps < 0.8 * sequence_metrics.crps_point(persistence, future[:, -1])
