"""Settings: validation with one message per bad field, and the precedence
flags > environment (ALTERNATORS_*) > TOML --config > defaults."""

from __future__ import annotations

import json

import pytest
from helpers import assert_ok, invoke, write_csv
from pydantic import ValidationError

from alternators_cli.errors import BadInput
from alternators_cli.settings import DistributionSettings, load_train_settings, parse_settings


def bad(flags: dict, config=None) -> str:
    with pytest.raises(BadInput) as info:
        load_train_settings(flags, config)
    message = str(info.value)
    assert "\n" not in message, f"one line expected: {message!r}"
    return message


# ---- validation -------------------------------------------------------------------------


def test_defaults_are_valid_and_documented():
    s = load_train_settings({})
    assert s.steps == 15 and s.latent_dim == 20
    assert s.alpha + (s.sigma_z_scale * s.noise_max) ** 2 <= 1
    assert s.noise_min <= s.noise_max


@pytest.mark.parametrize(
    "field,value",
    [
        ("epochs", 0), ("epochs", -5), ("batch_size", 0), ("batch_size", -1),
        ("steps", 0), ("latent_dim", -3), ("hidden", 0), ("layers", 0), ("epoch_size", -1),
        ("lr", 0.0), ("lr", -1e-3), ("lr", float("nan")), ("alpha", 0.0), ("alpha", 1.0),
        ("noise_max", 1.0), ("noise_min", 0.0), ("ema", 1.0), ("seed", -1),
        ("heldout", 1.0), ("draws", 1),
    ],
)
def test_out_of_range_values_are_rejected_naming_the_field(field, value):
    message = bad({field: value})
    assert f"--{field.replace('_', '-')}" in message


def test_alpha_plus_sigma_z_squared_above_one_is_rejected():
    message = bad({"alpha": 0.8, "noise_max": 0.9, "sigma_z_scale": 1.0})
    assert "alpha" in message and "sigma_z" in message


def test_alpha_plus_sigma_z_squared_equal_to_one_is_allowed():
    s = load_train_settings({"alpha": 0.75, "noise_max": 0.5, "sigma_z_scale": 1.0})
    assert s.alpha == 0.75


def test_noise_min_above_noise_max_is_rejected():
    message = bad({"noise_min": 0.6, "noise_max": 0.5})
    assert "noise_min" in message or "noise-min" in message


@pytest.mark.parametrize("device", ["tpu", "cuda:x", "CPU ", "gpu0", ""])
def test_bad_device_string_is_rejected(device):
    assert "--device" in bad({"device": device})


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:1", "mps"])
def test_device_strings_of_the_right_form_are_accepted(device):
    assert load_train_settings({"device": device}).device == device


def test_one_message_per_bad_field():
    message = bad({"epochs": -1, "batch_size": 0, "lr": -2.0})
    for flag in ("--epochs", "--batch-size", "--lr"):
        assert message.count(flag) == 1, message
    assert "(got -1)" in message and "(got 0)" in message


def test_model_config_checks_on_assignment():
    cfg = DistributionSettings()
    with pytest.raises(ValidationError):
        cfg.alpha = 1.5


# ---- precedence -------------------------------------------------------------------------


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text("epochs = 7\nbatch_size = 77\nlr = 0.0007\nhidden = 24\n")
    return path


def test_file_beats_defaults(config_file):
    s = load_train_settings({}, config_file)
    assert (s.epochs, s.batch_size, s.lr, s.hidden) == (7, 77, 0.0007, 24)
    assert s.steps == DistributionSettings.model_fields["steps"].default


def test_environment_beats_file(config_file, monkeypatch):
    monkeypatch.setenv("ALTERNATORS_EPOCHS", "5")
    monkeypatch.setenv("ALTERNATORS_LR", "0.005")
    s = load_train_settings({}, config_file)
    assert s.epochs == 5 and s.lr == 0.005
    assert s.batch_size == 77, "keys absent from the environment still come from the file"


def test_environment_beats_defaults(monkeypatch):
    monkeypatch.setenv("ALTERNATORS_EPOCHS", "3")
    assert load_train_settings({}).epochs == 3


def test_flags_beat_environment_and_file(config_file, monkeypatch):
    monkeypatch.setenv("ALTERNATORS_EPOCHS", "5")
    s = load_train_settings({"epochs": 2, "batch_size": None}, config_file)
    assert s.epochs == 2
    assert s.batch_size == 77, "a flag left unset (None) does not hide the file's value"


def test_bad_environment_value_is_a_bad_input(monkeypatch):
    monkeypatch.setenv("ALTERNATORS_EPOCHS", "many")
    assert "epochs" in bad({})


def test_toml_train_table_and_dashed_keys(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[train]\nbatch-size = 33\nlatent-dim = 6\n")
    s = load_train_settings({}, path)
    assert s.batch_size == 33 and s.latent_dim == 6


def test_unknown_toml_key_is_rejected_by_name(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("epochs = 3\nbogus_knob = 1\n")
    message = bad({}, path)
    assert "bogus_knob" in message


def test_invalid_toml_value_names_the_field(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("epochs = -4\n")
    assert "--epochs" in bad({}, path)


@pytest.mark.parametrize(
    "content,needle",
    [("epochs = = 3", "TOML"), (b"\xff\xfe\x00", "TOML")],
)
def test_broken_toml_is_a_bad_input(tmp_path, content, needle):
    path = tmp_path / "c.toml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    assert needle in bad({}, path)


def test_missing_and_directory_config(tmp_path):
    assert "not found" in bad({}, tmp_path / "nope.toml")
    assert "directory" in bad({}, tmp_path)


def test_precedence_through_the_command_line(runner, tmp_path, monkeypatch):
    """flags > env > file > defaults, end to end: the run's settings.json records them."""
    data = write_csv(tmp_path / "d.csv", [[i % 5, (i * 7) % 3] for i in range(30)], ["a", "b"])
    config = tmp_path / "c.toml"
    config.write_text("epochs = 3\nhidden = 12\nbatch_size = 11\nsteps = 2\nlatent_dim = 2\n")
    monkeypatch.setenv("ALTERNATORS_HIDDEN", "10")
    monkeypatch.setenv("ALTERNATORS_BATCH_SIZE", "9")
    out = tmp_path / "run"
    result = invoke(runner, ["train", data, "--out", out, "--config", config,
                             "--batch-size", "8", "--device", "cpu"])
    assert_ok(result)
    saved = json.loads((out / "settings.json").read_text())
    assert saved["batch_size"] == 8  # flag
    assert saved["hidden"] == 10  # environment over file
    assert saved["epochs"] == 3  # file over default
    assert saved["layers"] == DistributionSettings.model_fields["layers"].default  # default
    assert (out / "metrics.csv").read_text().strip().splitlines()[-1].startswith("3,")


def test_a_data_default_never_overrides_a_given_setting():
    """default_for_data fills a setting nobody gave, and leaves one given by a flag (or the
    environment, or --config: all reach the model as given fields) as it is."""
    unset = parse_settings({"kind": "sequence"})
    assert unset.default_for_data("window", 24) and unset.window == 24
    given = parse_settings({"kind": "sequence", "window": 64})
    assert not given.default_for_data("window", 24) and given.window == 64
    # A data default is checked like a flag: an invalid one is refused, not stored.
    with pytest.raises(ValueError):
        unset.default_for_data("epoch_size", 0)
