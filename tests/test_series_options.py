"""Sequence options for real series: `--season` (the value one season back enters the
model), `--transform log` (undone on output), one intra-op thread for sequence training.
Tiny models, end to end through the CLI where the option is a CLI option."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import assert_ok, assert_one_line_error, invoke
from typer.testing import CliRunner

from alternators_cli import checkpoint
from alternators_cli.normalize import Normalizer
from alternators_cli.sequence_model import SequenceAlternator
from alternators_cli.settings import SequenceSettings
from alternators_cli.trainer import Trainer
from alternators_cli.training_data import TrainingData

TINY = ["--kind", "sequence", "--epochs", "1", "--epoch-size", "32", "--batch-size", "32",
        "--hidden", "16", "--latent-dim", "4", "--seed", "0", "--device", "cpu",
        "--heldout", "0"]


def write_series(path, values) -> None:
    path.write_text("value\n" + "\n".join(f"{v:.6g}" for v in values) + "\n")


def positive_series(rows: int = 60) -> np.ndarray:
    t = np.arange(rows)
    return 100 * np.exp(0.01 * t) * (1 + 0.2 * np.sin(2 * np.pi * t / 6))


def test_season_model_predicts_the_change_from_one_season_back():
    # With the OPN's output layer at zero, the OPN's mean is the value one season back
    # (once it exists): x_t = x_keep * x~_{t-s} + sigma_x * eps. Without --season it is 0.
    season, T = 3, 9
    cfg = SequenceSettings(season=season, latent_dim=4, hidden=8, increments=False)
    model = SequenceAlternator(1, cfg)
    last = model.opn[-1]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.zeros_(last.bias)
    x = torch.arange(1.0, T + 1).view(1, T, 1)
    x[0, -1] = float("nan")  # the last step is the model's own
    draws, _ = model.run(x, torch.Generator().manual_seed(0))
    noise_bound = 5 * model.sigma_x
    expected = model.x_keep * torch.arange(1.0, T - season + 1)
    assert torch.allclose(draws[0, season:, 0], expected, atol=noise_bound)
    assert draws[0, :season, 0].abs().max() < noise_bound
    plain = SequenceAlternator(1, SequenceSettings(latent_dim=4, hidden=8, increments=False))
    assert plain.opn[0].in_features == 4  # no lag input without a season
    assert model.opn[0].in_features == 4 + 1 + 1


def test_log_normalizer_round_trips_and_keeps_its_state():
    x = positive_series(20)[:, None].astype(np.float32)
    norm = Normalizer.fit(np.log(x), per_column=True)
    norm.log = True
    back = norm.decode_(torch.from_numpy(norm.encode(x))).numpy()
    np.testing.assert_allclose(back, x, rtol=1e-4)
    assert Normalizer.from_state(norm.to_state()).log is True
    old = {"mean": torch.zeros(1), "scale": torch.ones(1)}  # a file from before the option
    assert Normalizer.from_state(old).log is False


def test_train_with_season_and_log_stores_both_and_forecasts_positive(tmp_path):
    csv = tmp_path / "monthly.csv"
    write_series(csv, positive_series())
    out = tmp_path / "run"
    result = invoke(CliRunner(), ["train", csv, "--out", out, "--season", "6",
                                  "--transform", "log", *TINY])
    assert_ok(result)
    ckpt = checkpoint.load(str(out / "model.pt"))
    assert ckpt.settings.season == 6 and ckpt.settings.transform == "log"
    assert ckpt.model.season == 6 and ckpt.normalizer.log
    npy = tmp_path / "paths.npy"
    result = invoke(CliRunner(), ["forecast", "-c", out / "model.pt", "--input", csv,
                                  "-H", "6", "-n", "20", "--format", "npy", "-o", npy])
    assert_ok(result)
    paths = np.load(npy)
    assert paths.shape == (20, 6, 1) and (paths > 0).all()


def test_log_transform_refuses_a_series_with_values_at_or_below_zero(tmp_path):
    csv = tmp_path / "signed.csv"
    write_series(csv, np.sin(np.arange(40.0)))
    result = invoke(CliRunner(), ["train", csv, "--out", tmp_path / "run",
                                  "--transform", "log", *TINY])
    assert "positive" in assert_one_line_error(result)
    assert not (tmp_path / "run").exists()


def test_season_must_fit_in_the_window(tmp_path):
    csv = tmp_path / "s.csv"
    write_series(csv, positive_series())
    result = invoke(CliRunner(), ["train", csv, "--out", tmp_path / "run", "--season", "20",
                                  "--window", "16", *TINY])
    assert "--season" in assert_one_line_error(result)


@pytest.mark.parametrize("option", [["--season", "12"], ["--transform", "log"]])
def test_series_options_are_for_sequences_only(tmp_path, option):
    result = invoke(CliRunner(), ["train", "pinwheel", "--out", tmp_path / "run", *option])
    assert "sequences only" in assert_one_line_error(result)


def test_sequence_training_runs_on_one_thread_and_restores_the_count():
    settings = SequenceSettings(window=8, epochs=1, epoch_size=8, batch_size=8,
                             hidden=8, latent_dim=2, device="cpu")
    series = np.random.default_rng(0).normal(size=(1, 40, 1)).astype(np.float32)
    trainer = Trainer(settings, TrainingData("s", 1, ["v"], False, series),
                      torch.device("cpu"))
    before = torch.get_num_threads()
    seen = []
    trainer.run(lambda report: seen.append(torch.get_num_threads()))
    assert seen == [1]
    assert torch.get_num_threads() == before


def test_linear_interpolation_leaves_a_one_channel_input_untouched():
    from alternators_cli.sequence_metrics import linear_interpolation

    given = np.array([[[1.0], [np.nan], [3.0]]])  # (1, 3, 1) float64: reshaping is a view
    filled = linear_interpolation(given)
    assert filled[0, 1, 0] == 2.0
    assert np.isnan(given[0, 1, 0])


def test_a_short_series_gets_short_epochs_unless_told(tmp_path):
    csv = tmp_path / "short.csv"
    write_series(csv, positive_series(60))
    at = TINY.index("--epoch-size")
    flags = TINY[:at] + TINY[at + 2:]
    result = invoke(CliRunner(), ["train", csv, "--out", tmp_path / "a", "--window", "8",
                                  *flags])
    assert_ok(result)
    assert "--epoch-size 1024" in result.stderr
    assert checkpoint.load(str(tmp_path / "a" / "model.pt")).settings.epoch_size == 1024
    result = invoke(CliRunner(), ["train", csv, "--out", tmp_path / "b", "--window", "8",
                                  "--epoch-size", "64", *flags])
    assert_ok(result)
    assert checkpoint.load(str(tmp_path / "b" / "model.pt")).settings.epoch_size == 64


def test_increments_keep_every_level_out_of_the_networks():
    # Shifting a fully observed series by a constant shifts the draws by the same constant
    # (after the first step) and leaves the latent path unchanged: no level enters either
    # network. Without --increments the latent path moves with the level.
    T = 12
    x = torch.sin(torch.arange(T, dtype=torch.float32)).view(1, T, 1)
    for season in (None, 3):
        model = SequenceAlternator(1, SequenceSettings(increments=True, season=season,
                                                       latent_dim=4, hidden=8))
        draws, z = model.run(x, torch.Generator().manual_seed(0))
        shifted, z_shifted = model.run(x + 5.0, torch.Generator().manual_seed(0))
        assert torch.allclose(z, z_shifted, atol=1e-5)
        assert torch.allclose(shifted[:, 1:] - draws[:, 1:], torch.full_like(draws[:, 1:],
                              5.0 * model.x_keep), atol=1e-4)
    plain = SequenceAlternator(1, SequenceSettings(latent_dim=4, hidden=8, increments=False))
    _, z = plain.run(x, torch.Generator().manual_seed(0))
    _, z_shifted = plain.run(x + 5.0, torch.Generator().manual_seed(0))
    assert not torch.allclose(z, z_shifted, atol=1e-3)


def test_increments_predict_the_change_from_the_step_before():
    # With the OPN's output layer at zero the mean of x_t is x~_{t-1}: persistence.
    T = 8
    model = SequenceAlternator(1, SequenceSettings(increments=True, latent_dim=4, hidden=8))
    torch.nn.init.zeros_(model.opn[-1].weight)
    torch.nn.init.zeros_(model.opn[-1].bias)
    x = torch.arange(1.0, T + 1).view(1, T, 1)
    draws, _ = model.run(x, torch.Generator().manual_seed(0))
    expected = model.x_keep * torch.arange(1.0, T)
    assert torch.allclose(draws[0, 1:, 0], expected, atol=5 * model.sigma_x)



def test_increments_are_on_for_a_file_by_default_and_stored(tmp_path):
    csv = tmp_path / "s.csv"
    write_series(csv, positive_series())
    result = invoke(CliRunner(), ["train", csv, "--out", tmp_path / "levels",
                                  "--no-increments", *TINY])
    assert_ok(result)
    ckpt = checkpoint.load(str(tmp_path / "levels" / "model.pt"))
    assert ckpt.settings.increments is False and not ckpt.model.increments
    result = invoke(CliRunner(), ["train", csv, "--out", tmp_path / "run", *TINY])
    assert_ok(result)
    ckpt = checkpoint.load(str(tmp_path / "run" / "model.pt"))
    assert ckpt.settings.increments is True and ckpt.model.increments
    assert ckpt.model.opn[0].in_features == 4 + 1  # the latent and the flag
    assert checkpoint.load("pretrained:lorenz").model.increments is False


def test_bridge_bends_an_interior_gap_to_the_next_observation_and_leaves_ends_alone():
    from alternators_cli.sequences import bridge_gaps

    nan = float("nan")
    x = torch.tensor([nan, 1.0, nan, nan, nan, 5.0, nan]).view(1, 7, 1)
    draws = torch.stack([torch.full((1, 7, 1), v) for v in (1.0, 2.0, 3.0)])  # (3, 1, 7, 1)
    bent = bridge_gaps(draws, x)
    # median of the draws at the gap's end (step 5) is 2: e = 5 - 2 = 3, over 4 intervals
    ramp = torch.tensor([0.75, 1.5, 2.25])
    assert torch.allclose(bent[0, 0, 2:5, 0], 1.0 + ramp)
    assert torch.allclose(bent[2, 0, 2:5, 0], 3.0 + ramp)  # every draw: the same bend
    for t in (0, 6):  # the series' start and a forecast step: as drawn
        assert torch.equal(bent[:, 0, t], draws[:, 0, t])


def test_impute_joins_both_ends_of_a_gap_better_than_running_forward():
    from alternators_cli import sequences

    ckpt = checkpoint.load("pretrained:lorenz")
    values, _ = sequences.lorenz_heldout(8, 60, seed=3)
    given = values.copy()
    given[:, 20:40] = np.nan
    filled = sequences.impute(ckpt.model, ckpt.normalizer, given, 20, seed=0)["median"]
    forward, _ = sequences.run_draws(ckpt.model, ckpt.normalizer, given, 20, seed=0)
    forward = np.median(forward, axis=0)
    last_gap = np.abs(filled[:, 39] - values[:, 40]).mean()
    last_forward = np.abs(forward[:, 39] - values[:, 40]).mean()
    assert last_gap < last_forward  # the fill's end lies nearer the observation after it
    np.testing.assert_array_equal(filled[:, :20], values[:, :20])  # observed: unchanged


def test_a_season_lowers_the_default_latent_noise_unless_it_is_given(monkeypatch):
    # With --season, sigma_z = 4 sigma_x (0.04) instead of 10 sigma_x (0.1); a value from
    # any source wins, and the checkpoint's stored value is what loads.
    from alternators_cli.settings import load_train_settings

    plain = load_train_settings({"kind": "sequence"})
    seasonal = load_train_settings({"kind": "sequence", "season": 12})
    assert (plain.sigma_z_scale, seasonal.sigma_z_scale) == (10.0, 4.0)
    model = SequenceAlternator(1, seasonal)
    assert model.sigma_z == pytest.approx(0.04)
    given = load_train_settings({"kind": "sequence", "season": 12, "sigma_z_scale": 10.0})
    assert given.sigma_z_scale == 10.0
    monkeypatch.setenv("ALTERNATORS_SIGMA_Z_SCALE", "8")
    assert load_train_settings({"kind": "sequence", "season": 12}).sigma_z_scale == 8.0


def seasonal_and_plain(rows: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """A trending series with a season of 12 steps, and a random walk (no season)."""
    t = np.arange(rows)
    rng = np.random.default_rng(0)
    seasonal = 0.5 * t + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.5, rows)
    return seasonal, np.cumsum(rng.normal(0, 1, rows))


def test_season_auto_finds_the_season_of_the_changes_and_its_sigma_z(tmp_path):
    seasonal, walk = seasonal_and_plain()
    found = {}
    for name, values in (("seasonal", seasonal), ("walk", walk)):
        csv = tmp_path / f"{name}.csv"
        write_series(csv, values)
        out = tmp_path / name
        result = invoke(CliRunner(), ["train", csv, "--out", out, "--season", "auto", *TINY])
        assert_ok(result)
        assert "--season auto:" in result.stderr
        found[name] = checkpoint.load(str(out / "model.pt")).settings
    assert found["seasonal"].season == 12 and found["seasonal"].sigma_z_scale == 4.0
    assert found["walk"].season is None and found["walk"].sigma_z_scale == 10.0


def test_season_auto_keeps_a_given_sigma_z_scale_and_works_from_the_api(tmp_path):
    from alternators_cli import api

    seasonal, _ = seasonal_and_plain()
    model = api.train(seasonal[:, None], kind="sequence", season="auto", sigma_z_scale=3,
                      epochs=1, epoch_size=32, batch_size=32, hidden=16, latent_dim=4,
                      heldout=0)
    assert model.settings["season"] == 12 and model.settings["sigma_z_scale"] == 3.0


@pytest.mark.parametrize("bad", ["0", "monthly", "12.5"])
def test_season_refuses_what_is_not_a_whole_number_or_auto(tmp_path, bad):
    csv = tmp_path / "s.csv"
    write_series(csv, positive_series())
    result = invoke(CliRunner(), ["train", csv, "--out", tmp_path / "run", "--season", bad,
                                  *TINY])
    assert "--season" in assert_one_line_error(result)
    assert not (tmp_path / "run").exists()


def test_season_lags_average_the_seasons_back_the_path_has():
    # With the OPN's output layer at zero and levels, the OPN's mean is the mean of
    # x~_{t-s}, ..., x~_{t-Ks} that exist; K = 1 is the value one season back alone.
    season, T = 2, 9
    x = torch.arange(1.0, T + 1).view(1, T, 1)
    for lags in (1, 3):
        cfg = SequenceSettings(season=season, season_lags=lags, latent_dim=4, hidden=8,
                               increments=False)
        model = SequenceAlternator(1, cfg)
        torch.nn.init.zeros_(model.opn[-1].weight)
        torch.nn.init.zeros_(model.opn[-1].bias)
        draws, _ = model.run(x, torch.Generator().manual_seed(0))
        expected = [np.mean([t + 1 - k * season for k in range(1, lags + 1)
                             if t - k * season >= 0]) for t in range(season, T)]
        assert torch.allclose(draws[0, season:, 0],
                              model.x_keep * torch.tensor(expected, dtype=torch.float32),
                              atol=5 * model.sigma_x)
        assert model.opn[0].in_features == 4 + 1 + 1  # one averaged lag and its share


@pytest.mark.parametrize(("option", "message"), [
    (["--season-lags", "2"], "give --season"),
    (["--season", "6", "--season-lags", "3", "--window", "16"], "longer than 18"),
])
def test_season_lags_need_a_season_and_a_window_that_holds_them(tmp_path, option, message):
    csv = tmp_path / "s.csv"
    write_series(csv, positive_series())
    result = invoke(CliRunner(), ["train", csv, "--out", tmp_path / "run", *option, *TINY])
    assert message in assert_one_line_error(result)
    assert not (tmp_path / "run").exists()
