"""The Python front door (alternators_cli.api): the README's example runs as written, and a
model saved from Python is what the CLI reads."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_ok, invoke
from typer.testing import CliRunner

import alternators_cli as alt
from alternators_cli.errors import BadInput

README = Path(__file__).resolve().parents[1] / "README.md"


def python_example() -> str:
    text = README.read_text()
    section = text[text.index("## Python\n"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_python_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(python_example(), "README.md", "exec"), scope)
    assert scope["points"].shape == (1000, 2)
    assert scope["frames"].shape[1:] == (200, 2)
    assert scope["paths"].shape == (100, 20, 20)
    assert not np.isnan(scope["filled"]).any()
    assert scope["report"]["reference"] == "pinwheel"
    assert (tmp_path / "pinwheel.pt").exists()
    np.testing.assert_array_equal(scope["again"].sample(50, seed=3),
                                  scope["model"].sample(50, seed=3))


def test_a_model_saved_from_python_samples_the_same_through_the_cli(tmp_path):
    model = alt.train("8gaussians", epochs=1, epoch_size=500, hidden=8, steps=3,
                      latent_dim=3)
    model.save(tmp_path / "m.pt")
    result = invoke(CliRunner(), ["sample", "-c", tmp_path / "m.pt", "-n", 20, "--seed", 4])
    assert_ok(result)
    cli = np.loadtxt(result.stdout.splitlines()[1:], delimiter=",")
    np.testing.assert_allclose(cli, model.sample(20, seed=4), rtol=1e-6, atol=1e-6)


def test_progress_callback_and_settings_reach_training():
    seen = []
    model = alt.train("moons", epochs=3, epoch_size=300, hidden=8, steps=2, latent_dim=2,
                      progress=lambda r: seen.append(r.epoch))
    assert seen == [1, 2, 3]
    assert model.settings["hidden"] == 8 and model.kind == "distribution"


def test_bad_settings_and_data_are_bad_input():
    with pytest.raises(BadInput, match="epochs"):
        alt.train("moons", epochs=0)
    with pytest.raises(BadInput):
        alt.train(np.zeros((5, 2)), epochs=1)  # constant columns


def test_dataframes_with_a_datetime_index_forecast_by_time():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    t = np.arange(120)
    frame = pd.DataFrame({"level": np.sin(t / 6) + 0.1 * rng.standard_normal(120)},
                         index=pd.date_range("2020-01-01", periods=120, freq="MS"))
    model = alt.train(frame, epochs=1, epoch_size=64, window=16, hidden=16)
    assert model.kind == "sequence" and model.columns == ["level"]
    out = model.forecast(frame, horizon=6, n=20)
    assert list(out.columns) == ["level_q0.05", "level_q0.5", "level_q0.95"]
    assert out.index[0] == pd.Timestamp("2030-01-01") and len(out) == 6
    gappy = frame.copy()
    gappy.iloc[50:55] = np.nan
    filled = model.impute(gappy, n=10)
    assert not filled.isna().any().any() and (filled.index == frame.index).all()
