"""Fixtures: one tiny trained checkpoint for the whole session, a CliRunner, a clean
environment and one CPU thread (the suite must stay light on a 2-core machine)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import TINY_STEPS, TINY_TRAIN_FLAGS, assert_ok, invoke, write_csv
from typer.testing import CliRunner

torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _clear_alternators_env(mp: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.upper().startswith("ALTERNATORS_"):
            mp.delenv(key)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No ALTERNATORS_* variable from the outside world leaks into a test."""
    _clear_alternators_env(monkeypatch)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@dataclass
class Run:
    dir: Path
    ckpt: Path
    steps: int
    dim: int
    train_result: object


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Run:
    """`alternators train pinwheel` with tiny sizes, through the CLI."""
    out = tmp_path_factory.mktemp("tiny") / "run"
    with pytest.MonkeyPatch.context() as mp:
        _clear_alternators_env(mp)
        result = invoke(CliRunner(), ["train", "pinwheel", "--out", out, *TINY_TRAIN_FLAGS])
    assert_ok(result)
    return Run(out, out / "model.pt", TINY_STEPS, 2, result)


@pytest.fixture(scope="session")
def user_csv(tmp_path_factory) -> Path:
    """A user's data file: 200 rows of 8gaussians with a header `u,v`."""
    from alternators_cli.datasets import draw_builtin

    path = tmp_path_factory.mktemp("userdata") / "points.csv"
    return write_csv(path, draw_builtin("8gaussians", 200, 3).astype(np.float64), ["u", "v"])


@pytest.fixture(scope="session")
def csv_run(tmp_path_factory, user_csv) -> Run:
    """A tiny model trained on the user's CSV file (keeps a held-out part)."""
    out = tmp_path_factory.mktemp("csvrun") / "run"
    with pytest.MonkeyPatch.context() as mp:
        _clear_alternators_env(mp)
        result = invoke(
            CliRunner(),
            ["train", user_csv, "--out", out, "--epochs", "2", "--batch-size", "64",
             "--hidden", "8", "--steps", "3", "--latent-dim", "3", "--seed", "1",
             "--device", "cpu"],
        )
    assert_ok(result)
    return Run(out, out / "model.pt", 3, 2, result)
