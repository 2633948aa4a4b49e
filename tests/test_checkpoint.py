"""Checkpoints: round trip, `info`, damaged / foreign / newer / malicious files, and a
resumed training run ending with the same weights as an uninterrupted one."""

from __future__ import annotations

import io
import json
import os
import pickle

import numpy as np
import pytest
import torch
from helpers import assert_ok, assert_one_line_error, invoke

from alternators_cli import __version__, checkpoint, engine
from alternators_cli.errors import BadInput
from alternators_cli.kinds import build_model
from alternators_cli.model import parameter_counts
from alternators_cli.settings import DistributionSettings
from alternators_cli.trainer import Trainer
from alternators_cli.training_data import TrainingData

# ---- round trip ---------------------------------------------------------------------------


def test_round_trip_gives_the_same_samples(runner, tiny_run, tmp_path):
    ckpt = checkpoint.load(str(tiny_run.ckpt))
    assert ckpt.dim == 2 and ckpt.model.steps == tiny_run.steps
    expected = engine.sample(ckpt.model, ckpt.normalizer, 300, seed=5)
    out = tmp_path / "s.npy"
    assert_ok(invoke(runner, ["sample", "-c", tiny_run.ckpt, "-n", 300, "--seed", 5,
                              "--format", "npy", "-o", out]))
    np.testing.assert_array_equal(np.load(out), expected)
    # Loading twice rebuilds identical weights.
    again = checkpoint.load(str(tiny_run.ckpt))
    for (k, a), (_, b) in zip(ckpt.model.state_dict().items(),
                              again.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


def test_payload_survives_save_and_load(tiny_run):
    payload = torch.load(tiny_run.ckpt, weights_only=True)
    buf = io.BytesIO()
    checkpoint.save(payload, buf)
    rebuilt = checkpoint.from_payload(torch.load(io.BytesIO(buf.getvalue()), weights_only=True),
                                      "memory")
    original = checkpoint.load(str(tiny_run.ckpt))
    a = engine.sample(rebuilt.model, rebuilt.normalizer, 50, seed=1)
    b = engine.sample(original.model, original.normalizer, 50, seed=1)
    np.testing.assert_array_equal(a, b)


def as_format_1(payload: dict) -> dict:
    """A format-1 file of this model: the kind also inside the settings, beside every
    setting of the other kind (as format 1 stored them)."""
    old = {**payload, "format_version": 1}
    old["settings"] = {**payload["settings"], "kind": payload["kind"], "window": 64,
                       "season": None, "transform": "none"}
    return old


def test_format_2_stores_the_kind_once_and_only_its_own_settings(tiny_run):
    payload = torch.load(tiny_run.ckpt, weights_only=True)
    assert payload["format_version"] == 2 and payload["kind"] == "distribution"
    assert "kind" not in payload["settings"] and "window" not in payload["settings"]
    assert checkpoint.load(str(tiny_run.ckpt)).settings.steps == tiny_run.steps


def test_a_format_1_file_loads_through_the_one_migration(tiny_run):
    payload = torch.load(tiny_run.ckpt, weights_only=True)
    migrated = checkpoint.migrate_v1(as_format_1(payload))
    assert migrated["format_version"] == 2 and "window" not in migrated["settings"]
    ckpt = checkpoint.from_payload(as_format_1(payload), "old.pt")
    new = checkpoint.from_payload(payload, "new.pt")
    np.testing.assert_array_equal(engine.sample(ckpt.model, ckpt.normalizer, 50, seed=1),
                                  engine.sample(new.model, new.normalizer, 50, seed=1))


def test_a_format_1_file_from_before_schedule_rho_rebuilds_the_linear_schedule(tiny_run):
    payload = as_format_1(torch.load(tiny_run.ckpt, weights_only=True))
    payload["settings"]["schedule_rho"] = 7.0  # another value, then no value at all
    del payload["settings"]["schedule_rho"]
    ckpt = checkpoint.from_payload(payload, "old.pt")
    config = ckpt.settings
    assert config.schedule_rho == 1.0
    linear = torch.linspace(config.noise_max, config.noise_min, config.steps,
                            dtype=torch.float64).float()
    assert torch.equal(build_model(2, config).sigma_x, linear)
    assert ckpt.describe()["settings"]["schedule_rho"] == 1.0


def test_a_format_1_file_from_before_activation_rebuilds_the_silu_networks(tiny_run):
    payload = as_format_1(torch.load(tiny_run.ckpt, weights_only=True))
    del payload["settings"]["activation"]
    ckpt = checkpoint.from_payload(payload, "old.pt")
    assert ckpt.settings.activation == "silu"
    assert isinstance(ckpt.model.opn.body[0], torch.nn.SiLU)
    assert ckpt.describe()["settings"]["activation"] == "silu"


def test_a_format_1_file_from_before_linear_skip_rebuilds_networks_without_it(tiny_run):
    payload = as_format_1(torch.load(tiny_run.ckpt, weights_only=True))
    del payload["settings"]["linear_skip"]
    for name in ("opn.skip", "stn.skip"):  # and such a file has no skip weights
        del payload["state"]["model"][name]
    ckpt = checkpoint.from_payload(payload, "old.pt")
    assert ckpt.settings.linear_skip is False
    assert not hasattr(ckpt.model.opn, "skip") and not hasattr(ckpt.model.stn, "skip")
    assert ckpt.describe()["settings"]["linear_skip"] is False


def test_a_format_2_file_with_another_kinds_setting_is_refused(tiny_run):
    payload = torch.load(tiny_run.ckpt, weights_only=True)
    payload["settings"]["window"] = 64
    with pytest.raises(BadInput, match="invalid settings: --window applies to sequences"):
        checkpoint.from_payload(payload, "odd.pt")


def test_checkpoint_keeps_the_normaliser_in_data_units(tiny_run):
    ckpt = checkpoint.load(str(tiny_run.ckpt))
    assert ckpt.normalizer.mean.shape == (2,) and ckpt.normalizer.scale.shape == (2,)
    assert np.all(ckpt.normalizer.scale > 0)


def test_info_json_fields(runner, tiny_run):
    result = invoke(runner, ["info", "-c", tiny_run.ckpt, "--json"])
    assert_ok(result)
    d = json.loads(result.stdout)
    assert d["kind"] == "distribution"
    assert d["format_version"] == checkpoint.FORMAT_VERSION
    assert d["package_version"] == __version__
    assert d["data"]["name"] == "pinwheel" and d["data"]["builtin"] is True
    assert d["data"]["dim"] == 2 and d["data"]["columns"] == ["x0", "x1"]
    assert d["settings"]["steps"] == tiny_run.steps and d["settings"]["hidden"] == 16
    assert d["epochs_trained"] == 2
    ckpt = checkpoint.load(str(tiny_run.ckpt))
    assert d["parameters"] == parameter_counts(ckpt.model)
    last_loss = float((tiny_run.dir / "metrics.csv").read_text().strip().splitlines()[-1]
                      .split(",")[1])
    assert d["final_loss"] == pytest.approx(last_loss, rel=1e-5)


def test_info_human_table(runner, tiny_run):
    result = invoke(runner, ["info", "-c", tiny_run.ckpt])
    assert_ok(result)
    for needle in ("pinwheel", "epochs trained", __version__, "parameters"):
        assert needle in result.stdout


def test_info_of_a_csv_run_counts_held_out_rows(runner, csv_run):
    d = json.loads(invoke(runner, ["info", "-c", csv_run.ckpt, "--json"]).stdout)
    assert d["data"]["builtin"] is False
    assert d["data"]["columns"] == ["u", "v"]
    assert d["data"]["rows"] == 200
    assert d["heldout_rows"] == 50  # 0.2 of 200 rows is 40, under the minimum of 50


# ---- damaged, foreign, newer ------------------------------------------------------------


def _payload(tiny_run) -> dict:
    return torch.load(tiny_run.ckpt, weights_only=True)


def make_bad_checkpoint(kind: str, tiny_run, path):
    raw = tiny_run.ckpt.read_bytes()
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif kind == "tail-cut":
        path.write_bytes(raw[:-100])
    elif kind == "text":
        path.write_text("this is not a checkpoint\n")
    elif kind == "foreign":
        torch.save({"weights": torch.zeros(3), "epoch": 4}, path)
    elif kind == "foreign-list":
        torch.save([torch.ones(2)], path)
    elif kind == "newer":
        torch.save({**_payload(tiny_run), "format_version": checkpoint.FORMAT_VERSION + 1}, path)
    elif kind == "missing-state":
        p = _payload(tiny_run)
        del p["state"]
        torch.save(p, path)
    elif kind == "wrong-shapes":
        p = _payload(tiny_run)
        p["data"] = {**p["data"], "dim": 3, "columns": ["a", "b", "c"]}
        torch.save(p, path)
    elif kind == "invalid-settings":
        p = _payload(tiny_run)
        p["settings"] = {**p["settings"], "alpha": 3.0}
        torch.save(p, path)
    else:
        raise AssertionError(kind)
    return path


BAD_KINDS = ["empty", "truncated", "tail-cut", "text", "foreign", "foreign-list", "newer",
             "missing-state", "wrong-shapes", "invalid-settings"]


@pytest.mark.parametrize("kind", BAD_KINDS)
@pytest.mark.parametrize("command", ["sample", "info"])
def test_bad_checkpoint_exits_2_with_one_line(runner, tiny_run, tmp_path, kind, command):
    path = make_bad_checkpoint(kind, tiny_run, tmp_path / "model.pt")
    line = assert_one_line_error(invoke(runner, [command, "-c", path]), 2)
    assert str(path) in line


def test_newer_format_says_so(runner, tiny_run, tmp_path):
    path = make_bad_checkpoint("newer", tiny_run, tmp_path / "model.pt")
    line = assert_one_line_error(invoke(runner, ["info", "-c", path]), 2)
    assert "newer" in line or "upgrade" in line


def test_library_load_raises_bad_input(tiny_run, tmp_path):
    path = make_bad_checkpoint("foreign", tiny_run, tmp_path / "x.pt")
    with pytest.raises(BadInput, match="not an alternators checkpoint"):
        checkpoint.load(str(path))


def test_unknown_checkpoint_kind_is_refused(runner, tiny_run, tmp_path):
    """Only distribution checkpoints exist; a checkpoint of another kind (e.g. a sequence
    model) must not be sampled or evaluated as if it were a distribution."""
    path = tmp_path / "seq.pt"
    torch.save({**_payload(tiny_run), "kind": "sequence"}, path)
    for command in (["sample", "-c", path, "-n", 5],
                    ["evaluate", "-c", path, "-n", 10, "--json"]):
        line = assert_one_line_error(invoke(runner, command), 2)
        assert "kind" in line or "sequence" in line


# ---- nothing is executed ------------------------------------------------------------------


class _Malicious:
    """Unpickling this object creates a marker file: it stands for arbitrary code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy-pickle"])
@pytest.mark.parametrize("command", ["sample", "info", "animate", "evaluate"])
def test_malicious_checkpoint_is_refused_without_running_it(
    runner, tiny_run, tmp_path, legacy, command
):
    marker = tmp_path / "PWNED"
    payload = {**_payload(tiny_run), "created": _Malicious(marker)}
    evil = tmp_path / "evil.pt"
    if legacy:
        with open(evil, "wb") as f:
            pickle.dump(payload, f, protocol=2)
    else:
        torch.save(payload, evil)
    assert not marker.exists()
    args = {"sample": ["sample", "-c", evil, "-n", 5],
            "info": ["info", "-c", evil],
            "animate": ["animate", "-c", evil, "-o", tmp_path / "x.gif", "-n", 10],
            "evaluate": ["evaluate", "-c", evil, "-n", 10]}[command]
    line = assert_one_line_error(invoke(runner, args), 2)
    assert str(evil) in line
    assert not marker.exists(), "the checkpoint's code ran"
    assert not (tmp_path / "x.gif").exists()
    # The file really is malicious: an unsafe load runs its code.
    if legacy:
        with open(evil, "rb") as f:
            pickle.load(f)  # noqa: S301 - on purpose
    else:
        torch.load(evil, weights_only=False)
    assert marker.exists()
    marker.unlink()


# ---- resume ------------------------------------------------------------------------------


def test_interrupted_and_resumed_training_ends_with_the_same_weights(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.normal(size=(120, 2)).astype(np.float32)
    data = TrainingData("d", 2, ["a", "b"], False, values[:100], values[100:])
    settings = DistributionSettings(epochs=4, batch_size=32, hidden=8, steps=3, latent_dim=2,
                                    seed=3, device="cpu")

    torch.manual_seed(settings.seed)
    straight = Trainer(settings, data, torch.device("cpu"))
    straight.run()

    torch.manual_seed(settings.seed)
    first = Trainer(settings, data, torch.device("cpu"))
    first.run(lambda report: report.epoch < 2)  # "interrupted" after epoch 2
    assert first.epoch == 2
    buf = io.BytesIO()
    checkpoint.save(checkpoint.build_payload(first, data.heldout, 0.0), buf)
    torch.manual_seed(12345)  # whatever the process state, resuming restores it
    payload = torch.load(io.BytesIO(buf.getvalue()), weights_only=True)
    resumed = Trainer(settings, data, torch.device("cpu"))
    resumed.load_state_dict(payload["state"])
    resumed.run()

    assert resumed.epoch == straight.epoch == 4
    assert resumed.history == pytest.approx(straight.history, rel=0, abs=0)
    for (k, a), (_, b) in zip(straight.model.state_dict().items(),
                              resumed.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    for (k, a), (_, b) in zip(straight.sampling_model().state_dict().items(),
                              resumed.sampling_model().state_dict().items(), strict=True):
        assert torch.equal(a, b), k


def test_checkpoint_file_is_written_atomically_no_temp_files_left(tiny_run):
    leftovers = [p.name for p in tiny_run.dir.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    assert sorted(p.name for p in tiny_run.dir.iterdir()) == [
        "loss.png", "metrics.csv", "model.pt", "settings.json"]
    assert os.path.getsize(tiny_run.ckpt) > 0
