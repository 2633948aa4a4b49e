"""Time series: the lorenz built-in, read_sequences, the sequence settings, the
SequenceAlternator (mask, run, loss), the engine pieces (split, normaliser, impute,
forecast, sample) and the sequence side of the command line, on one tiny checkpoint
trained once for the module from a small CSV."""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from helpers import assert_ok, assert_one_line_error, invoke, read_csv_body
from typer.testing import CliRunner

from alternators_cli import checkpoint, plots
from alternators_cli import sequences as sq
from alternators_cli.data import read_sequences
from alternators_cli.datasets import (
    BUILTINS,
    LORENZ_CENTER,
    LORENZ_CHANNELS,
    LORENZ_OBS_NOISE,
    LORENZ_SCALE,
    draw_builtin,
    lorenz_projection,
    lorenz_series,
)
from alternators_cli.errors import BadInput
from alternators_cli.kinds import build_model
from alternators_cli.normalize import Normalizer
from alternators_cli.sequence_model import (
    SequenceAlternator,
    masked_energy_score,
    training_mask,
)
from alternators_cli.settings import (
    DistributionSettings,
    Kind,
    SequenceSettings,
    load_train_settings,
)
from alternators_cli.trainer import Trainer
from alternators_cli.training_data import TrainingData, split_series

# The defaults a sequence model has where a distribution's differ (docs/model.md).
SEQUENCE_DEFAULTS = {
    "latent_dim": 16, "hidden": 128, "noise_max": 0.01, "noise_min": 0.01,
    "sigma_z_scale": 10.0, "increments": True, "alpha": 0.5, "epochs": 30, "epoch_size": 2560,
    "batch_size": 128, "lr": 3e-3, "heldout": 0.1,
}

torch.set_num_threads(1)

COLUMNS = ["a", "b", "c"]
ROWS = 400  # --heldout 0.25 keeps 100 steps: 2 segments of window 16 + horizon 20
WINDOW = 16
SEQ_TRAIN_FLAGS = [
    "--kind", "sequence", "--epochs", "1", "--epoch-size", "64", "--batch-size", "32",
    "--window", str(WINDOW), "--hidden", "16", "--latent-dim", "4", "--seed", "0",
    "--device", "cpu",
]


def _clear_alternators_env(mp: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.upper().startswith("ALTERNATORS_"):
            mp.delenv(key)


def waves(rows: int, seed: int = 0) -> np.ndarray:
    """Three noisy periodic channels, (rows, 3)."""
    t = np.arange(rows)
    rng = np.random.default_rng(seed)
    clean = np.stack([np.sin(2 * np.pi * t / 25), np.cos(2 * np.pi * t / 25),
                      0.5 * np.sin(2 * np.pi * t / 10)], axis=1)
    return clean + 0.05 * rng.standard_normal(clean.shape)


def write_series_csv(path: Path, values: np.ndarray, header: list[str] | None = None) -> Path:
    """values (T, D) with NaN written as an empty cell."""
    lines = [",".join(header)] if header else []
    lines += [",".join("" if math.isnan(v) else f"{v:.6g}" for v in row) for row in values]
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class SeqRun:
    dir: Path
    ckpt: Path
    csv: Path
    dim: int
    train_result: object


@pytest.fixture(scope="module")
def seq_run(tmp_path_factory) -> SeqRun:
    """`alternators train series.csv --kind sequence` with tiny sizes, through the CLI.
    The CSV has gaps (empty cells, NaN, a blank row) in its training part."""
    root = tmp_path_factory.mktemp("seqrun")
    values = waves(ROWS)
    values[5, 1] = values[17, 0] = values[40:43, 2] = np.nan
    values[60] = np.nan
    csv = write_series_csv(root / "series.csv", values, COLUMNS)
    lines = csv.read_text().splitlines()
    lines[1 + 80] = "NaN," + lines[1 + 80].split(",", 1)[1]  # a literal NaN cell too
    csv.write_text("\n".join(lines) + "\n")
    out = root / "run"
    with pytest.MonkeyPatch.context() as mp:
        _clear_alternators_env(mp)
        result = invoke(CliRunner(), ["train", csv, "--out", out, "--heldout", "0.25",
                                      "--json", *SEQ_TRAIN_FLAGS])
    assert_ok(result)
    return SeqRun(out, out / "model.pt", csv, len(COLUMNS), result)


@pytest.fixture(scope="module")
def seq_ckpt(seq_run):
    return checkpoint.load(str(seq_run.ckpt), kind="sequence")


def gappy_values(rows: int = 40) -> np.ndarray:
    """(rows, 3) from the fixture's waves with scattered gaps and one blank row."""
    values = waves(rows, seed=5)
    values[1::3, 1] = np.nan
    values[2::5, 0] = np.nan
    values[rows // 2] = np.nan
    return values


# ---- data: the lorenz built-in ---------------------------------------------------------------


def test_lorenz_series_shapes_dtypes_and_attractor_scale():
    obs, states = lorenz_series(2, 60, np.random.default_rng(1))
    assert obs.shape == (2, 60, LORENZ_CHANNELS) and obs.dtype == np.float32
    assert states.shape == (2, 60, 3) and states.dtype == np.float64
    assert np.isfinite(obs).all() and np.isfinite(states).all()
    standardised = (states - LORENZ_CENTER) / LORENZ_SCALE
    assert np.abs(standardised.mean(axis=(0, 1))).max() < 1.0
    assert 0.3 < standardised.std() < 2.0  # on the attractor, not blown up or collapsed
    assert len(np.unique(states[:, :, 0])) == states[:, :, 0].size  # the state moves


def test_lorenz_projection_is_fixed_and_shared_across_seeds():
    p = lorenz_projection()
    assert p.shape == (LORENZ_CHANNELS, 3)
    np.random.seed(123)  # the global generator has no say
    torch.manual_seed(123)
    np.testing.assert_array_equal(lorenz_projection(), p)
    for seed in (1, 2):
        obs, states = lorenz_series(2, 200, np.random.default_rng(seed))
        standardised = ((states - LORENZ_CENTER) / LORENZ_SCALE).reshape(-1, 3)
        flat = obs.reshape(-1, LORENZ_CHANNELS).astype(np.float64)
        # Least-squares map from standardised states to observations: the projection.
        fitted = np.linalg.lstsq(standardised, flat, rcond=None)[0].T  # (channels, 3)
        np.testing.assert_allclose(fitted, p, atol=0.03)
        residual = flat - standardised @ p.T
        assert abs(residual.mean()) < 0.02
        assert residual.std() == pytest.approx(LORENZ_OBS_NOISE, rel=0.15)


def test_lorenz_same_seed_same_data_other_seed_other_data():
    a = lorenz_series(1, 30, np.random.default_rng(7))
    b = lorenz_series(1, 30, np.random.default_rng(7))
    c = lorenz_series(1, 30, np.random.default_rng(8))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.allclose(a[0], c[0])


def test_lorenz_is_a_sequence_builtin(runner):
    info = BUILTINS["lorenz"]
    assert info.kind == "sequence" and info.dim == LORENZ_CHANNELS
    rows = json.loads(invoke(runner, ["datasets", "--json"]).stdout)
    lorenz = [r for r in rows if r["name"] == "lorenz"]
    assert lorenz and lorenz[0]["kind"] == "sequence" and lorenz[0]["dim"] == LORENZ_CHANNELS


def test_data_lorenz_writes_50_rows_of_20_columns(runner):
    result = invoke(runner, ["data", "lorenz", "-n", 50])
    assert_ok(result)
    header, values = read_csv_body(result.stdout)
    assert header == [f"x{i}" for i in range(LORENZ_CHANNELS)]
    assert values.shape == (50, LORENZ_CHANNELS)
    np.testing.assert_allclose(values, draw_builtin("lorenz", 50, 0), rtol=1e-6, atol=1e-6)
    # rows are time: consecutive rows are much closer than rows far apart
    step = np.abs(np.diff(values, axis=0)).mean()
    assert step < np.abs(values[None] - values[:, None]).mean()


# ---- read_sequences ------------------------------------------------------------------------


def test_read_sequences_csv_with_header_and_gaps(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("a,b,c\n1,2,3\n4,,NaN\n,nan,9\n7,8,NA\n")
    values, columns = read_sequences(str(path))
    assert columns == ["a", "b", "c"]
    assert values.shape == (1, 4, 3) and values.dtype == np.float32
    expected = np.array([[1, 2, 3], [4, np.nan, np.nan], [np.nan, np.nan, 9],
                         [7, 8, np.nan]], dtype=np.float32)
    np.testing.assert_array_equal(values[0], expected)  # NaN == NaN in assert_array_equal


def test_read_sequences_headerless_csv(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("1,2\n,4\n5,6\n")
    values, columns = read_sequences(str(path))
    assert columns == ["x0", "x1"]
    np.testing.assert_array_equal(values[0], [[1, 2], [np.nan, 4], [5, 6]])


@pytest.mark.parametrize(("shape", "expected"), [
    ((2, 5, 3), (2, 5, 3)),  # several series
    ((5, 3), (1, 5, 3)),  # one series
    ((5,), (1, 5, 1)),  # one series of one channel
])
def test_read_sequences_npy_shapes(tmp_path, shape, expected):
    arr = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    arr.flat[1] = np.nan
    path = tmp_path / "s.npy"
    np.save(path, arr)
    values, columns = read_sequences(str(path))
    assert values.shape == expected and values.dtype == np.float32
    assert columns == [f"x{i}" for i in range(expected[2])]
    np.testing.assert_array_equal(values.reshape(-1), arr.reshape(-1).astype(np.float32))


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    inf_npy = np.ones((5, 2))
    inf_npy[1, 0] = np.inf
    cases = {
        "inf_csv": ("inf.csv", "a,b\n1,inf\n2,3\n", "infinite"),
        "inf_npy": ("inf.npy", inf_npy, "infinite"),
        "empty_channel": ("empty.csv", "a,b\n1,\n2,NaN\n", "'b' has no observed value"),
        "object_npy": ("obj.npy", np.array([1, "a", None], dtype=object), "objects"),
        "4d_npy": ("four.npy", np.zeros((2, 2, 2, 2)), "[2, 2, 2, 2]"),
        "text_npy": ("text.npy", np.array(["a", "b"]), "numeric"),
    }
    out = {}
    for key, (name, content, fragment) in cases.items():
        path = tmp_path / name
        if isinstance(content, str):
            path.write_text(content)
        else:
            np.save(path, content, allow_pickle=True)
        out[key] = (path, fragment)
    return out


@pytest.mark.parametrize(
    "case", ["inf_csv", "inf_npy", "empty_channel", "object_npy", "4d_npy", "text_npy"]
)
def test_read_sequences_refuses_bad_input(tmp_path, case):
    path, fragment = _bad_inputs(tmp_path)[case]
    with pytest.raises(BadInput) as info:
        read_sequences(str(path))
    assert fragment in str(info.value)


# ---- settings --------------------------------------------------------------------------------


def test_sequence_kind_gets_the_sequence_defaults():
    s = load_train_settings({"kind": "sequence"})
    assert s.kind is Kind.sequence
    for key, value in SEQUENCE_DEFAULTS.items():
        assert getattr(s, key) == value, key
    assert s.noise_max == s.noise_min  # one constant sigma_x


def test_explicit_flags_win_over_the_sequence_defaults():
    s = load_train_settings({"kind": "sequence", "hidden": 24, "epochs": 3, "lr": 0.01})
    assert (s.hidden, s.epochs, s.lr) == (24, 3, 0.01)
    assert s.latent_dim == SEQUENCE_DEFAULTS["latent_dim"]


def test_noise_min_alone_sets_a_constant_sigma_x():
    s = load_train_settings({"kind": "sequence", "noise_min": 0.05})
    assert s.noise_min == s.noise_max == 0.05
    model = build_model(3, s)
    assert isinstance(model, SequenceAlternator) and model.sigma_x == pytest.approx(0.05)
    assert model.sigma_z == pytest.approx(0.5)  # sigma_z = sigma_z_scale * sigma_x


@pytest.mark.parametrize("flags", [{"noise_max": 0.2, "noise_min": 0.1}, {"noise_max": 0.2}])
def test_sequence_with_two_noise_levels_is_bad_input(flags):
    with pytest.raises(BadInput, match="constant sigma_x"):
        load_train_settings({"kind": "sequence", **flags})


def test_environment_kind_selects_the_sequence_defaults(monkeypatch):
    monkeypatch.setenv("ALTERNATORS_KIND", "sequence")
    s = load_train_settings({})
    assert s.kind is Kind.sequence
    assert (s.hidden, s.latent_dim, s.noise_max) == (
        SEQUENCE_DEFAULTS["hidden"], SEQUENCE_DEFAULTS["latent_dim"],
        SEQUENCE_DEFAULTS["noise_max"])
    monkeypatch.setenv("ALTERNATORS_NOISE_MIN", "0.02")
    s = load_train_settings({"hidden": 8})
    assert s.hidden == 8 and s.noise_min == s.noise_max == 0.02


def test_config_file_kind_selects_the_sequence_defaults(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('kind = "sequence"\nhidden = 24\n')
    s = load_train_settings({}, config)
    assert s.kind is Kind.sequence and s.hidden == 24
    assert s.latent_dim == SEQUENCE_DEFAULTS["latent_dim"]


@pytest.mark.parametrize("flags", [{}, {"kind": "distribution"}])
def test_distribution_defaults_are_unchanged(flags):
    s = load_train_settings(flags)
    assert s.kind is Kind.distribution
    for key in SEQUENCE_DEFAULTS.keys() & DistributionSettings.model_fields.keys():
        assert getattr(s, key) == DistributionSettings.model_fields[key].default, key
    assert (s.hidden, s.latent_dim, s.noise_max, s.noise_min) == (64, 20, 0.9, 0.01)


# ---- model -----------------------------------------------------------------------------------


def _seq_config(**extra) -> SequenceSettings:
    return SequenceSettings(hidden=16, latent_dim=4, noise_min=0.05, **extra)


def _suffix_length(row: np.ndarray) -> int:
    """Length of the hidden run ending at the last step if the hidden steps are exactly
    that run, else -1."""
    hidden = np.flatnonzero(row)
    if len(hidden) == 0 or hidden[-1] != len(row) - 1:
        return -1
    return len(hidden) if len(hidden) == hidden[-1] - hidden[0] + 1 else -1


def test_training_mask_shape_and_modes():
    B, W = 4000, 32
    gen = torch.Generator().manual_seed(0)
    mask = training_mask(B, W, gen, "cpu")
    assert mask.shape == (B, W) and mask.dtype == torch.bool
    again = training_mask(B, W, torch.Generator().manual_seed(0), "cpu")
    assert torch.equal(mask, again)
    m = mask.numpy()
    observed = ~m.any(axis=1)
    assert 0.2 < observed.mean() < 0.4, "about a quarter of the windows fully observed"
    tails = np.array([_suffix_length(row) for row in m])
    is_tail = tails > 0
    assert is_tail.mean() > 0.2, "forecast windows: a hidden tail ending at the last step"
    assert set(tails[is_tail]) >= {1, W // 2}  # tails from one step to half the window
    imputation = ~observed & ~is_tail
    assert imputation.mean() > 0.35, "blocks / scattered gaps inside the window"
    # imputation windows hide steps before the end, some keep the last step observed
    assert (imputation & ~m[:, -1]).any()


def test_run_shapes_and_one_step_ahead_causality():
    torch.manual_seed(0)
    model = SequenceAlternator(3, _seq_config())
    x = torch.randn(5, 12, 3)
    x[0, 3] = float("nan")
    x[2, 7, 1] = float("nan")
    xs, zs = model.run(x, torch.Generator().manual_seed(1))
    assert xs.shape == (5, 12, 3) and zs.shape == (5, 12, 4)
    assert torch.isfinite(xs).all() and torch.isfinite(zs).all()
    # x_t is predicted from z_{t-1}: changing the observation at t = 6 changes z_6 on and
    # x_7 on, never anything earlier (same noise).
    changed = x.clone()
    changed[:, 6] += 1.0
    xs2, zs2 = model.run(changed, torch.Generator().manual_seed(1))
    assert torch.equal(xs2[:, :7], xs[:, :7])
    assert torch.equal(zs2[:, :6], zs[:, :6])
    assert not torch.allclose(zs2[:, 6], zs[:, 6])
    assert not torch.allclose(xs2[:, 7:], xs[:, 7:])


class _AmplifyingSTN(torch.nn.Module):
    """An STN that returns 4 z_{t-1}: (S3) then multiplies the latent by about 3.5 a step."""

    def __init__(self, data_dim: int, latent_dim: int):
        super().__init__()
        self.span = slice(data_dim, data_dim + latent_dim)  # input is [x~_t; z_{t-1}; ...]

    def forward(self, inputs):
        return 4 * inputs[:, self.span]


def test_a_runaway_latent_is_held_and_an_ordinary_one_untouched():
    from alternators_cli import sequence_model

    torch.manual_seed(0)
    model = SequenceAlternator(2, _seq_config(increments=False))  # x_t decodes z_{t-1} alone
    x = torch.randn(4, 400, 2)
    x[:, 300:] = float("nan")  # a forecast of the last 100 steps
    with torch.no_grad():
        ordinary_x, ordinary_z = model.run(x, torch.Generator().manual_seed(1))
        assert float(ordinary_z.abs().max()) < 5  # the guard is not touched
        unguarded = sequence_model.Z_LIMIT
        try:  # the same model without the guard reproduces the ordinary path bit for bit
            sequence_model.Z_LIMIT = float("inf")
            same_x, same_z = model.run(x, torch.Generator().manual_seed(1))
        finally:
            sequence_model.Z_LIMIT = unguarded
        assert torch.equal(same_x, ordinary_x) and torch.equal(same_z, ordinary_z)

        model.stn = _AmplifyingSTN(2, model.config.latent_dim)
        xs, zs = model.run(x, torch.Generator().manual_seed(1))  # unguarded: 3.5^400 = inf
        assert torch.isfinite(xs).all() and torch.isfinite(zs).all()
        assert float(zs.abs().max()) == sequence_model.Z_LIMIT
        # the forecast is what the OPN makes of a latent within the limit
        corners = sequence_model.Z_LIMIT * (2 * torch.rand(10_000, model.config.latent_dim) - 1)
        bound = float(model.opn(corners).abs().max())
        assert float(xs[:, 300:].abs().max()) < 2 * bound + 1


def test_loss_with_missing_cells_is_finite_and_backpropagates():
    torch.manual_seed(0)
    model = SequenceAlternator(3, _seq_config())
    x = torch.randn(8, 10, 3)
    x[0, 2:5] = float("nan")
    x[3, :, 1] = float("nan")
    x[5, 9] = float("nan")
    loss = model.loss(x, torch.Generator().manual_seed(2))
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    assert all(float(g.abs().sum()) > 0 for g in (model.opn[0].weight.grad,
                                                     model.stn[0].weight.grad))


def test_masked_energy_score_ignores_unscored_cells():
    gen = torch.Generator().manual_seed(0)
    draws = torch.randn(3, 2, 4, 3, generator=gen)
    target = torch.randn(2, 4, 3, generator=gen)
    scored = torch.ones(2, 4, 3, dtype=torch.bool)
    scored[0, 1, 2] = False
    scored[1, 3] = False  # a step with nothing scored
    base = masked_energy_score(draws, target, scored)
    assert torch.isfinite(base)

    for cell in [(0, 1, 2), (1, 3, 0)]:
        t2 = target.clone()
        t2[cell] += 5.0
        assert torch.equal(masked_energy_score(draws, t2, scored), base)
        d2 = draws.clone()
        d2[(slice(None), *cell)] += 5.0
        assert torch.equal(masked_energy_score(d2, target, scored), base)
    t2 = target.clone()
    t2[0, 1, 1] += 5.0  # scored
    assert not torch.allclose(masked_energy_score(draws, t2, scored), base)
    # a better forecast scores lower
    assert masked_energy_score(target.expand(3, -1, -1, -1) + 0.01 * draws, target,
                               scored) < base


def _sine_series(n: int = 8, length: int = 200) -> np.ndarray:
    t = np.arange(length)
    phase = np.random.default_rng(0).uniform(0, 2 * np.pi, (n, 1))
    angle = 2 * np.pi * t / 20 + phase
    return np.stack([np.sin(angle), np.cos(angle)], axis=-1).astype(np.float32)


def test_brief_training_lowers_the_loss():
    settings = load_train_settings({
        "kind": "sequence", "epochs": 10, "epoch_size": 64, "batch_size": 32, "window": 16,
        "hidden": 32, "latent_dim": 4, "lr": 1e-2, "seed": 0, "device": "cpu",
    })
    data = TrainingData("sine", 2, ["s", "c"], False, _sine_series(), None)
    trainer = Trainer(settings, data, torch.device("cpu"))
    assert isinstance(trainer.model, SequenceAlternator)
    batch = next(trainer.batches(0))
    assert batch.shape == (32, 16, 2)

    def fixed_loss() -> float:
        with torch.no_grad():
            return float(trainer.model.loss(batch, torch.Generator().manual_seed(9)))

    before = fixed_loss()
    trainer.run()
    assert len(trainer.history) == 10 and all(math.isfinite(v) for v in trainer.history)
    assert fixed_loss() < 0.7 * before
    assert np.mean(trainer.history[-2:]) < 0.7 * trainer.history[0]


# ---- engine ----------------------------------------------------------------------------------


def test_split_series_splits_in_time():
    series = np.arange(2 * 50 * 3, dtype=np.float32).reshape(2, 50, 3)
    train, held = split_series(series, 0.2, window=16)
    np.testing.assert_array_equal(train, series[:, :40])
    np.testing.assert_array_equal(held, series[:, 40:])
    train, held = split_series(series, 0.0, window=50)
    assert train.shape == (2, 50, 3) and held.shape == (2, 0, 3)
    with pytest.raises(BadInput, match="--window 45"):
        split_series(series, 0.2, window=45)


def test_window_batches_are_windows_of_the_training_series():
    series = _sine_series(3, 60)
    settings = load_train_settings({"kind": "sequence", "epoch_size": 40, "batch_size": 16,
                                    "window": 8, "seed": 3, "device": "cpu"})
    data = TrainingData("sine", 2, ["s", "c"], False, series, None)
    trainer = Trainer(settings, data, torch.device("cpu"))
    batches = list(trainer.batches(0))
    assert [b.shape[0] for b in batches] == [16, 16, 8]
    assert all(b.shape[1:] == (8, 2) for b in batches)
    windows = trainer.normalizer.encode(
        np.lib.stride_tricks.sliding_window_view(series, 8, axis=1).transpose(0, 1, 3, 2)
    ).reshape(-1, 8, 2)
    for w in torch.cat(batches).numpy():  # each is a contiguous window of some series
        assert np.abs(windows - w).max(axis=(1, 2)).min() < 1e-6
    again = torch.cat(list(trainer.batches(0)))
    assert torch.equal(torch.cat(batches), again)
    assert not torch.equal(torch.cat(batches), torch.cat(list(trainer.batches(1))))


def test_normalizer_fit_per_channel_ignores_nan():
    x = np.array([[1.0, 10.0, 5.0], [np.nan, 20.0, 5.0], [3.0, np.nan, 5.0],
                  [5.0, 30.0, np.nan]])
    norm = Normalizer.fit_per_channel(x)
    np.testing.assert_allclose(norm.mean, [3.0, 20.0, 5.0], rtol=1e-6)
    np.testing.assert_allclose(norm.scale, [np.std([1, 3, 5]), np.std([10, 20, 30]), 1.0],
                               rtol=1e-6)  # a constant channel keeps scale 1
    encoded = norm.encode(x)
    np.testing.assert_array_equal(np.isnan(encoded), np.isnan(x))
    np.testing.assert_allclose(encoded[0, :2], [-np.sqrt(1.5), -np.sqrt(1.5)], rtol=1e-5)


def test_normalizer_fit_per_channel_all_missing_channel_is_silent():
    x = np.array([[1.0, np.nan], [3.0, np.nan]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        norm = Normalizer.fit_per_channel(x)
    np.testing.assert_allclose(norm.mean, [2.0, 0.0])
    np.testing.assert_allclose(norm.scale, [1.0, 1.0])


def test_impute_keeps_observed_cells_and_fills_every_gap(seq_ckpt):
    values = gappy_values()[None].astype(np.float32)  # (1, 40, 3)
    missing = np.isnan(values)
    out = sq.impute(seq_ckpt.model, seq_ckpt.normalizer, values, 20, seed=0, band=0.8)
    assert set(out) == {"median", "lower", "upper"}
    for key in out:
        assert out[key].shape == values.shape and np.isfinite(out[key]).all()
        np.testing.assert_array_equal(out[key][~missing], values[~missing])
    assert (out["lower"] <= out["median"]).all() and (out["median"] <= out["upper"]).all()
    assert (out["upper"] - out["lower"])[missing].min() > 0  # a real band at the gaps
    again = sq.impute(seq_ckpt.model, seq_ckpt.normalizer, values, 20, seed=0, band=0.8)
    np.testing.assert_array_equal(again["median"], out["median"])
    assert set(sq.impute(seq_ckpt.model, seq_ckpt.normalizer, values, 5, seed=0)) == {"median"}


def test_forecast_shape(seq_ckpt):
    history = np.stack([gappy_values(30), waves(30, seed=2)]).astype(np.float32)  # (2, 30, 3)
    paths = sq.forecast(seq_ckpt.model, seq_ckpt.normalizer, history, 5, 7, seed=0)
    assert paths.shape == (7, 2, 5, 3)
    assert np.isfinite(paths).all()
    assert paths.std(axis=0).min() > 0  # the paths are samples, not copies


def test_sample_paths_reproducible_by_seed(seq_ckpt):
    a = sq.sample_paths(seq_ckpt.model, seq_ckpt.normalizer, 4, 9, seed=3)
    b = sq.sample_paths(seq_ckpt.model, seq_ckpt.normalizer, 4, 9, seed=3)
    c = sq.sample_paths(seq_ckpt.model, seq_ckpt.normalizer, 4, 9, seed=4)
    assert a.shape == (4, 9, 3) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


# ---- command line on the fixture checkpoint ----------------------------------------------------


def test_train_sequence_csv_writes_a_run_and_evaluates(seq_run):
    assert {p.name for p in seq_run.dir.iterdir()} == {
        "model.pt", "settings.json", "metrics.csv", "loss.png"}
    settings = json.loads((seq_run.dir / "settings.json").read_text())
    assert settings["kind"] == "sequence" and settings["window"] == WINDOW
    assert settings["noise_max"] == settings["noise_min"] == SEQUENCE_DEFAULTS["noise_min"]
    lines = (seq_run.dir / "metrics.csv").read_text().split()
    assert lines[0] == "epoch,loss" and len(lines) == 2
    assert math.isfinite(float(lines[1].split(",")[1]))  # gaps in the data train fine
    report = json.loads(seq_run.train_result.stdout)
    assert report["source"] == "held-out part of series"
    assert len(report["imputation"]) == 6


def test_info_says_sequence(runner, seq_run):
    result = invoke(runner, ["info", "-c", seq_run.ckpt, "--json"])
    assert_ok(result)
    d = json.loads(result.stdout)
    assert d["kind"] == "sequence"
    assert d["data"]["columns"] == COLUMNS and d["data"]["dim"] == 3
    assert d["data"]["rows"] == ROWS
    assert d["settings"]["window"] == WINDOW
    assert d["heldout_rows"] == ROWS // 4


def test_sample_length_csv(runner, seq_run):
    result = invoke(runner, ["sample", "-c", seq_run.ckpt, "--length", 7, "-n", 3])
    assert_ok(result)
    header, values = read_csv_body(result.stdout)
    assert header == ["path", "t", *COLUMNS]
    assert values.shape == (21, 5)
    np.testing.assert_array_equal(values[:, 0], np.repeat([0, 1, 2], 7))
    np.testing.assert_array_equal(values[:, 1], np.tile(np.arange(7), 3))
    assert np.isfinite(values).all()
    again = invoke(runner, ["sample", "-c", seq_run.ckpt, "--length", 7, "-n", 3])
    assert again.stdout == result.stdout
    other = invoke(runner, ["sample", "-c", seq_run.ckpt, "--length", 7, "-n", 3, "--seed", 1])
    assert other.stdout != result.stdout


def test_sample_default_length_is_the_window(runner, seq_run):
    result = invoke(runner, ["sample", "-c", seq_run.ckpt, "-n", 2])
    assert_ok(result)
    assert len(result.stdout.strip().splitlines()) == 1 + 2 * WINDOW


def test_sample_npy_file(runner, seq_run, tmp_path):
    out = tmp_path / "paths.npy"
    result = invoke(runner, ["sample", "-c", seq_run.ckpt, "--length", 7, "-n", 3,
                             "--format", "npy", "-o", out])
    assert_ok(result)
    paths = np.load(out)
    assert paths.shape == (3, 7, 3) and paths.dtype == np.float32
    csv = invoke(runner, ["sample", "-c", seq_run.ckpt, "--length", 7, "-n", 3])
    _, values = read_csv_body(csv.stdout)
    np.testing.assert_allclose(values[:, 2:], paths.reshape(-1, 3), rtol=1e-6, atol=1e-6)


def test_impute_csv_with_band(runner, seq_run, tmp_path):
    values = gappy_values()
    gappy = write_series_csv(tmp_path / "gappy.csv", values, COLUMNS)
    out = tmp_path / "filled.csv"
    result = invoke(runner, ["impute", "-c", seq_run.ckpt, "--input", gappy, "--band", 0.9,
                             "-n", 20, "-o", out])
    assert_ok(result)
    missing = np.isnan(values)
    assert f"filled {int(missing.sum())} missing" in result.stderr
    header, filled = read_csv_body(out.read_text())
    assert header == [*COLUMNS, *(f"{c}_lower" for c in COLUMNS),
                      *(f"{c}_upper" for c in COLUMNS)]
    assert filled.shape == (40, 9)
    assert np.isfinite(filled).all()  # every blank filled
    median, lower, upper = filled[:, :3], filled[:, 3:6], filled[:, 6:]
    np.testing.assert_allclose(median[~missing], values[~missing], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(lower[~missing], median[~missing])
    np.testing.assert_array_equal(upper[~missing], median[~missing])
    assert (lower <= median).all() and (median <= upper).all()
    assert (upper - lower)[missing].min() > 0


def test_impute_npy_input_gives_npy(runner, seq_run, tmp_path):
    values = np.stack([gappy_values(20), waves(20, seed=1)]).astype(np.float32)
    path = tmp_path / "in.npy"
    np.save(path, values)
    out = tmp_path / "out.npy"
    assert_ok(invoke(runner, ["impute", "-c", seq_run.ckpt, "--input", path, "-n", 5,
                              "-o", out]))
    filled = np.load(out)
    assert filled.shape == (2, 20, 3) and np.isfinite(filled).all()
    observed = ~np.isnan(values)
    np.testing.assert_array_equal(filled[observed], values[observed])


def test_forecast_csv(runner, seq_run, tmp_path):
    gappy = write_series_csv(tmp_path / "recent.csv", gappy_values(), COLUMNS)
    result = invoke(runner, ["forecast", "-c", seq_run.ckpt, "--input", gappy, "-H", 4,
                             "-n", 30])
    assert_ok(result)
    header, body = read_csv_body(result.stdout)
    assert header == ["step", "a", "a_lower", "a_upper", "b", "b_lower", "b_upper",
                      "c", "c_lower", "c_upper"]
    assert body.shape == (4, 10)
    np.testing.assert_array_equal(body[:, 0], [1, 2, 3, 4])
    assert result.stdout.splitlines()[1].startswith("1,")  # an integer step
    triples = body[:, 1:].reshape(4, 3, 3)  # (step, channel, median/lower/upper)
    assert (triples[..., 1] <= triples[..., 0]).all()
    assert (triples[..., 0] <= triples[..., 2]).all()
    assert (triples[..., 2] > triples[..., 1]).all()


def test_forecast_npy(runner, seq_run, tmp_path):
    gappy = write_series_csv(tmp_path / "recent.csv", gappy_values(), COLUMNS)
    out = tmp_path / "paths.npy"
    assert_ok(invoke(runner, ["forecast", "-c", seq_run.ckpt, "--input", gappy, "-H", 4,
                              "-n", 6, "--format", "npy", "-o", out]))
    paths = np.load(out)
    assert paths.shape == (6, 4, 3) and np.isfinite(paths).all()


def test_evaluate_json(runner, seq_run):
    result = invoke(runner, ["evaluate", "-c", seq_run.ckpt, "--json"])
    assert_ok(result)
    report = json.loads(result.stdout)
    rows = {(r["pattern"], r["missing"]): r for r in report["imputation"]}
    assert set(rows) == {(p, f) for p in ("scattered", "blocks") for f in (0.1, 0.5, 0.9)}
    for r in rows.values():
        assert math.isfinite(r["mae_ratio"]) and r["mae_ratio"] > 0
        assert r["mae_ratio"] == pytest.approx(r["mae"] / r["linear_mae"])
    fc = report["forecast"]
    assert fc["horizon"] == 20
    assert math.isfinite(fc["crps"]) and math.isfinite(fc["persistence_crps"])
    assert fc["crps"] > 0 and fc["persistence_crps"] > 0
    for r in [*rows.values(), fc]:
        assert 0 <= r["band_coverage"] <= 1
    # A real band, not a point: some truths fall inside the central 90 % of the draws.
    assert max(r["band_coverage"] for r in rows.values()) > 0
    assert "latent_correlation" not in report  # no true states for a user's file


def test_evaluate_input_with_horizon_and_season(runner, seq_run, tmp_path):
    series = write_series_csv(tmp_path / "test.csv", waves(60, seed=4), COLUMNS)
    result = invoke(runner, ["evaluate", "-c", seq_run.ckpt, "--input", series, "--horizon",
                             4, "--season", 25, "--json"])
    assert_ok(result)
    report = json.loads(result.stdout)
    assert report["length"] == WINDOW + 4 and report["segments"] == 3
    assert report["forecast"]["horizon"] == 4 and report["forecast"]["season"] == 25
    assert "seasonal_naive_crps" not in report["forecast"]  # 16 steps < one season
    assert report["source"] == f"--input {series}"


def test_animate_writes_a_gif(runner, seq_run, tmp_path, monkeypatch):
    # Frames are drawn one matplotlib figure at a time (~0.3 s each): cap them for speed.
    monkeypatch.setattr(plots, "MAX_SEQUENCE_FRAMES", 3)
    gif = tmp_path / "a.gif"
    result = invoke(runner, ["animate", "-c", seq_run.ckpt, "-o", gif])
    assert_ok(result)
    assert gif.read_bytes()[:4] == b"GIF8"
    assert "wrote 3 frames" in result.stderr
    images = iio.imread(gif, index=None)
    assert images.shape[0] >= 3
    assert not np.array_equal(images[0], images[-1]), "the trajectory grows frame by frame"


# ---- bad inputs --------------------------------------------------------------------------------


@pytest.fixture
def inputs(tmp_path):
    short = write_series_csv(tmp_path / "short.csv", waves(30), COLUMNS)
    two = write_series_csv(tmp_path / "two.csv", waves(30)[:, :2], ["a", "b"])
    return {"short": short, "two": two}


BAD_COMMANDS = {
    "impute_distribution_ckpt": (["impute", "-c", "pretrained:pinwheel", "--input", "{short}"],
                                 "distribution model"),
    "forecast_distribution_ckpt": (["forecast", "-c", "pretrained:pinwheel", "--input",
                                    "{short}", "-H", "3"], "distribution model"),
    "impute_wrong_channels": (["impute", "-c", "{ckpt}", "--input", "{two}"], "2 channels"),
    "forecast_wrong_channels": (["forecast", "-c", "{ckpt}", "--input", "{two}", "-H", "2"],
                                "2 channels"),
    "evaluate_wrong_channels": (["evaluate", "-c", "{ckpt}", "--input", "{two}"],
                                "2 channels"),
    "sample_length_distribution": (["sample", "-c", "pretrained:pinwheel", "--length", "5"],
                                   "--length"),
    "sample_all_steps_sequence": (["sample", "-c", "{ckpt}", "--all-steps"], "--all-steps"),
    "train_lorenz_as_distribution": (["train", "lorenz", "--kind", "distribution", "--out",
                                      "{out}"], "sequence data set"),
    "train_window_too_long": (["train", "{short}", "--kind", "sequence", "--window", "40",
                               "--out", "{out}"], "--window 40"),
    "train_two_noise_levels": (["train", "{short}", "--kind", "sequence", "--noise-max", "0.2",
                                "--noise-min", "0.1", "--out", "{out}"], "constant sigma_x"),
    "evaluate_reference_on_sequence": (["evaluate", "-c", "{ckpt}", "--reference", "pinwheel"],
                                       "--reference"),
    "evaluate_input_on_distribution": (["evaluate", "-c", "pretrained:pinwheel", "--input",
                                        "{short}"], "--input"),
    "evaluate_horizon_too_long": (["evaluate", "-c", "{ckpt}", "--horizon", "500"],
                                  "too short"),
}


@pytest.mark.parametrize("case", list(BAD_COMMANDS))
def test_bad_input_is_one_line_exit_2(runner, seq_run, inputs, tmp_path, case):
    args, fragment = BAD_COMMANDS[case]
    out = tmp_path / "never"
    names = {"ckpt": seq_run.ckpt, "out": out, **inputs}
    result = invoke(runner, [a.format(**names) for a in args])
    line = assert_one_line_error(result, 2)
    assert fragment in line
    assert not out.exists(), "a refused train leaves no run directory"


# ---- a real lorenz run ---------------------------------------------------------------------------


def test_train_lorenz_reports_latent_recovery(runner, tmp_path):
    out = tmp_path / "lorenz"
    # --window 8 keeps the final evaluation (64 fresh segments of 8 + 20 steps) quick.
    result = invoke(runner, ["train", "lorenz", "--epochs", 1, "--epoch-size", 32,
                             "--batch-size", 32, "--window", 8, "--hidden", 16,
                             "--latent-dim", 4, "--device", "cpu", "--out", out, "--json"])
    assert_ok(result)
    report = json.loads(result.stdout)
    assert report["source"] == "fresh lorenz trajectories"
    corr = report["latent_correlation"]
    assert len(corr) == 3 and all(c is not None and -1 <= c <= 1 for c in corr)
    settings = json.loads((out / "settings.json").read_text())
    assert settings["kind"] == "sequence"
    assert settings["noise_min"] == settings["noise_max"] == SEQUENCE_DEFAULTS["noise_min"]


# ---- regressions: bugs found by these tests, now fixed -------------------------------------


def test_train_sequence_without_heldout_exits_0(runner, seq_run, tmp_path):
    out = tmp_path / "run"
    result = invoke(runner, ["train", seq_run.csv, "--out", out, "--heldout", "0",
                             *SEQ_TRAIN_FLAGS])
    assert (out / "model.pt").exists()
    assert_ok(result)
    assert "no evaluation:" in result.stderr


def test_train_sequence_with_a_short_heldout_part_backtests_it(runner, seq_run, tmp_path):
    # --heldout 0.1 keeps 40 steps: too few for two windows of 16 + 20, enough for a
    # rolling-origin backtest from the training steps before them.
    out = tmp_path / "run"
    result = invoke(runner, ["train", seq_run.csv, "--out", out, "--heldout", "0.1",
                             "--json", *SEQ_TRAIN_FLAGS])
    assert_ok(result)
    report = json.loads(result.stdout)
    fc = report["forecast"]
    assert fc["method"] == "rolling origin" and fc["origins"] >= 2
    assert fc["first_origin"] == ROWS - 40 and fc["horizon"] == 20
    assert math.isfinite(fc["crps"])


def test_evaluate_input_missing_last_steps_is_not_an_internal_error(runner, seq_run, tmp_path):
    values = waves(40, seed=6)
    values[[19, 39]] = np.nan  # blanks at the end of windows: other origins are scored
    series = write_series_csv(tmp_path / "gaps.csv", values, COLUMNS)
    result = invoke(runner, ["evaluate", "-c", seq_run.ckpt, "--input", series,
                             "--horizon", 4, "--json"])
    assert_ok(result)
    assert math.isfinite(json.loads(result.stdout)["forecast"]["crps"])
    values[16:] = np.nan  # nothing observed after the first forecast origin
    series = write_series_csv(tmp_path / "gaps.csv", values, COLUMNS)
    result = invoke(runner, ["evaluate", "-c", seq_run.ckpt, "--input", series,
                             "--horizon", 4, "--json"])
    assert "internal error" not in result.stderr
    assert "forecast horizon" in assert_one_line_error(result, 2)


def test_long_series_run_as_pieces_with_burn_in(monkeypatch):
    values = np.arange(2 * 23 * 3, dtype=np.float32).reshape(2, 23, 3)
    monkeypatch.setattr(sq, "PIECE", 5)
    monkeypatch.setattr(sq, "BURN_IN", 3)
    pieces = sq.split_pieces(values)
    assert pieces.shape == (2 * 5, 3 + 5, 3)
    assert np.isnan(pieces[0, :3]).all()  # nothing before the start
    np.testing.assert_array_equal(pieces[1, :3], values[0, 2:5])  # burn-in = steps before
    np.testing.assert_array_equal(sq.join_pieces(pieces[None], 2, 23)[0], values)


def test_impute_of_a_long_series_in_pieces_fills_gaps_and_keeps_observed(seq_ckpt, monkeypatch):
    values = np.tile(gappy_values(), (3, 1))[None].astype(np.float32)  # (1, 120, 3)
    monkeypatch.setattr(sq, "SPLIT_ABOVE", 50)
    monkeypatch.setattr(sq, "PIECE", 32)
    monkeypatch.setattr(sq, "BURN_IN", 8)
    out = sq.impute(seq_ckpt.model, seq_ckpt.normalizer, values, 4, seed=0)["median"]
    missing = np.isnan(values)
    assert out.shape == values.shape and np.isfinite(out).all()
    np.testing.assert_array_equal(out[~missing], values[~missing])


@pytest.mark.parametrize(
    ("flags", "named"),
    [(["--steps", "10"], "--steps applies"),
     (["--objective", "mse", "--fourier-features", "4"], "--objective, --fourier-features apply"),
     (["--opn-fourier-scale", "2"], "--opn-fourier-scale applies"),
     (["--schedule-rho", "3"], "--schedule-rho applies"),
     (["--activation", "relu"], "--activation applies"),
     (["--linear-skip"], "--linear-skip applies")],
)
def test_distribution_only_settings_are_refused_for_sequences(runner, tmp_path, flags, named):
    result = invoke(runner, ["train", "lorenz", "--out", tmp_path / "r", *flags])
    assert_one_line_error(result)
    assert named in result.stderr
    assert not (tmp_path / "r").exists()


def test_sequence_only_settings_are_refused_for_distributions(runner, tmp_path, monkeypatch):
    for args in (["--window", "32"], []):
        if not args:  # from the environment too, like every setting
            monkeypatch.setenv("ALTERNATORS_WINDOW", "32")
        result = invoke(runner, ["train", "pinwheel", "--out", tmp_path / "r", *args])
        assert_one_line_error(result)
        assert "--window applies to sequences only" in result.stderr
        assert not (tmp_path / "r").exists()


def test_a_distribution_file_that_stored_another_window_loads_without_it(tiny_run):
    # Before --window was refused for distributions, a distribution file could store any
    # window. Its model never read it: the file loads, and `info` does not list it.
    payload = torch.load(tiny_run.ckpt, weights_only=True)
    payload["format_version"] = 1  # format 1 kept every setting of both kinds
    payload["settings"].update(kind="distribution", window=32)
    loaded = checkpoint.from_payload(payload, "old.pt")
    assert "window" not in loaded.describe()["settings"]
    assert loaded.describe()["settings"]["steps"] == payload["settings"]["steps"]


def test_a_sequence_file_from_when_a_distribution_default_differed_loads_and_resumes(
    seq_run, tmp_path
):
    # A sequence file holds the distribution-only settings at the defaults of its day (T
    # was 12 for an hour on 2026-11-26). Its model never reads them: it must still load and
    # resume.
    payload = torch.load(seq_run.ckpt, weights_only=True)
    payload["format_version"] = 1  # format 1 kept every setting of both kinds
    payload["settings"].update(kind="sequence", steps=12, schedule_rho=3.0,
                               opn_fourier_features=32)
    run = tmp_path / "old-run"
    run.mkdir()
    with open(run / "model.pt", "wb") as f:
        checkpoint.save(payload, f)
    loaded = checkpoint.from_payload(payload, "old.pt")
    fresh = checkpoint.load(str(seq_run.ckpt))
    for name, value in fresh.model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], value), name
    # `info` lists what the model reads: not the settings it ignores.
    shown = loaded.describe()["settings"]
    assert "steps" not in shown and "schedule_rho" not in shown and shown["window"] == WINDOW
    epochs = payload["epoch"] + 1
    # No --kind: the CSV has gaps, which only a sequence reads; the checkpoint says which.
    result = invoke(CliRunner(), ["train", seq_run.csv, "--out", run, "--resume",
                                  "--epochs", str(epochs), "--json"])
    assert_ok(result)
    assert torch.load(run / "model.pt", weights_only=True)["epoch"] == epochs


def test_resuming_from_stdin_reads_the_rows_once_as_the_checkpoint_says(seq_run, tmp_path):
    # No --kind on the resume: the gappy rows are read once, as a sequence.
    stdin_run = tmp_path / "stdin-run"
    first = invoke(CliRunner(), ["train", "-", "--out", stdin_run, *SEQ_TRAIN_FLAGS],
                   input=seq_run.csv.read_text())
    assert_ok(first)
    again = invoke(CliRunner(), ["train", "-", "--out", stdin_run, "--resume", "--epochs", "2"],
                   input=seq_run.csv.read_text())
    assert_ok(again)
    assert torch.load(stdin_run / "model.pt", weights_only=True)["epoch"] == 2
