"""Work is never lost: signals, diverging losses and crashes while writing."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import default_signals
from typer.testing import CliRunner

from alternators_cli import checkpoint
from alternators_cli.cli import app
from alternators_cli.model import Alternator

TINY = ["--hidden", "16", "--steps", "4", "--epoch-size", "400", "--batch-size", "200",
        "--device", "cpu"]


def start_training(out: Path, every: int = 2) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "alternators_cli", "train", "pinwheel", "--out", str(out),
           "--epochs", "100000", "--checkpoint-every", str(every), *TINY]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            text=True, preexec_fn=default_signals)


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_saves_a_checkpoint_and_exits_128_plus_signal(tmp_path, sig, code):
    out = tmp_path / "run"
    proc = start_training(out)
    wait_for(out / "model.pt", proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "checkpoint saved to" in err and "Traceback" not in err
    ckpt = checkpoint.load(str(out / "model.pt"))
    assert ckpt.payload["epoch"] >= 2
    assert ckpt.payload["epoch"] == len(ckpt.payload["history"])
    assert (out / "metrics.csv").exists() and (out / "settings.json").exists()


def test_sigkill_loses_only_the_epochs_since_the_last_periodic_save(tmp_path):
    out = tmp_path / "run"
    proc = start_training(out, every=3)
    wait_for(out / "model.pt", proc)
    time.sleep(0.5)  # let it run on past the first save, maybe into another write
    proc.kill()
    proc.communicate(timeout=60)
    ckpt = checkpoint.load(str(out / "model.pt"))  # whole and loadable
    assert ckpt.payload["epoch"] % 3 == 0 and ckpt.payload["epoch"] >= 3


def test_a_crash_while_writing_keeps_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    runner = CliRunner()
    out = tmp_path / "run"
    first = runner.invoke(app, ["train", "pinwheel", "--out", str(out), "--epochs", "2", *TINY])
    assert first.exit_code == 0, first.output
    before = (out / "model.pt").read_bytes()

    def crash_midway(payload, f):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "save", crash_midway)
    again = runner.invoke(app, ["train", "pinwheel", "--out", str(out), "--epochs", "2",
                                "--overwrite", *TINY])
    assert again.exit_code == 1
    assert (out / "model.pt").read_bytes() == before
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


def test_a_diverging_loss_stops_with_exit_1_and_keeps_the_last_good_checkpoint(
    tmp_path, monkeypatch
):
    real_loss = Alternator.loss
    calls = {"n": 0}

    def loss_that_diverges(self, x, generator=None):
        calls["n"] += 1
        value = real_loss(self, x, generator)
        return value * float("nan") if calls["n"] > 6 else value  # 2 batches per epoch

    monkeypatch.setattr(Alternator, "loss", loss_that_diverges)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "pinwheel", "--out", str(out), "--epochs", "10",
                                      "--checkpoint-every", "1", *TINY])
    assert result.exit_code == 1
    assert "loss became nan at epoch 4" in result.stderr
    assert "kept the last good checkpoint" in result.stderr
    ckpt = checkpoint.load(str(out / "model.pt"))
    assert ckpt.payload["epoch"] == 3
    weights = ckpt.payload["state"]["model"]
    assert all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())
