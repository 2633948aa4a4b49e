"""The command line (CliRunner): commands, outputs, formats, determinism, and one tiny
real train -> sample -> evaluate -> animate run. Plus two real subprocesses."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from helpers import (
    TINY_TRAIN_FLAGS,
    assert_ok,
    assert_one_line_error,
    invoke,
    read_csv_body,
    snapshot,
    write_csv,
)

from alternators_cli import __version__, checkpoint, engine
from alternators_cli.datasets import BUILTINS, draw_builtin
from alternators_cli.metrics import METRICS

COMMANDS = ["datasets", "data", "train", "sample", "evaluate", "animate", "info"]


# ---- version and help ---------------------------------------------------------------------


def test_version(runner):
    result = invoke(runner, ["--version"])
    assert_ok(result)
    assert result.stdout.startswith(f"alternators {__version__}")


def test_root_help_lists_every_command_and_an_example(runner):
    result = invoke(runner, ["--help"])
    assert_ok(result)
    for command in COMMANDS:
        assert command in result.stdout
    assert "alternators train pinwheel" in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_has_an_example(runner, command):
    result = invoke(runner, [command, "--help"])
    assert_ok(result)
    text = " ".join(result.stdout.split())
    assert "Example:" in text
    assert f"alternators {command}" in text.split("Example:", 1)[1]


def test_no_arguments_shows_help(runner):
    result = invoke(runner, [])
    assert "Usage" in result.output
    assert result.exit_code in (0, 2)


# ---- datasets and data --------------------------------------------------------------------


def test_datasets_json(runner):
    result = invoke(runner, ["datasets", "--json"])
    assert_ok(result)
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == list(BUILTINS)
    for r in rows:
        expected = ("sequence", 20) if r["name"] == "lorenz" else ("distribution", 2)
        assert (r["kind"], r["dim"]) == expected and r["description"]


def test_datasets_table(runner):
    result = invoke(runner, ["datasets"])
    assert_ok(result)
    for name in BUILTINS:
        assert name in result.stdout


def test_data_csv_to_stdout(runner):
    result = invoke(runner, ["data", "8gaussians", "-n", 25, "--seed", 3])
    assert_ok(result)
    header, values = read_csv_body(result.stdout)
    assert header == ["x0", "x1"]
    np.testing.assert_allclose(values, draw_builtin("8gaussians", 25, 3), rtol=1e-6, atol=1e-6)


def test_data_npy_to_file(runner, tmp_path):
    out = tmp_path / "d.npy"
    assert_ok(invoke(runner, ["data", "checkerboard", "-n", 40, "--seed", 1, "--format", "npy",
                              "-o", out]))
    np.testing.assert_array_equal(np.load(out), draw_builtin("checkerboard", 40, 1))


def test_data_npy_to_stdout_pipe(runner):
    result = invoke(runner, ["data", "moons", "-n", 10, "--format", "npy", "-o", "-"])
    assert_ok(result)
    np.testing.assert_array_equal(np.load(io.BytesIO(result.stdout_bytes)),
                                  draw_builtin("moons", 10, 0))


# ---- train --------------------------------------------------------------------------------


def test_train_writes_the_run_files(tiny_run):
    files = {p.name for p in tiny_run.dir.iterdir()}
    assert files == {"model.pt", "settings.json", "metrics.csv", "loss.png"}
    settings = json.loads((tiny_run.dir / "settings.json").read_text())
    assert settings["epochs"] == 2 and settings["hidden"] == 16 and settings["steps"] == 4
    lines = (tiny_run.dir / "metrics.csv").read_text().strip().splitlines()
    assert lines[0] == "epoch,loss"
    assert [ln.split(",")[0] for ln in lines[1:]] == ["1", "2"]
    assert all(np.isfinite(float(ln.split(",")[1])) for ln in lines[1:])
    assert (tiny_run.dir / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_schedule_and_scoring_flags_reach_the_model(runner, tmp_path):
    out = tmp_path / "run"
    flags = ["--epochs", 1, "--hidden", 8, "--steps", 5, "--latent-dim", 2, "--device", "cpu",
             "--epoch-size", 200, "--noise-max", 0.8, "--noise-min", 0.05,
             "--schedule-rho", 3, "--scored-steps", 2]
    assert_ok(invoke(runner, ["train", "pinwheel", "--out", out, *flags]))
    settings = json.loads((out / "settings.json").read_text())
    assert settings["schedule_rho"] == 3.0 and settings["scored_steps"] == 2
    sigma_x = checkpoint.load(str(out / "model.pt")).model.sigma_x.double()
    expected = (0.8 ** (1 / 3) + torch.linspace(0, 1, 5, dtype=torch.float64)
                * (0.05 ** (1 / 3) - 0.8 ** (1 / 3))) ** 3
    torch.testing.assert_close(sigma_x, expected, atol=1e-6, rtol=0)
    for bad in (["--schedule-rho", 0.5], ["--scored-steps", -1]):
        assert_one_line_error(invoke(runner, ["train", "pinwheel", "--out", tmp_path / "b",
                                              *bad]), 2)
    assert not (tmp_path / "b").exists()


def test_train_activation_reaches_both_networks_and_the_file(runner, tmp_path):
    out = tmp_path / "run"
    flags = ["--epochs", 1, "--hidden", 8, "--steps", 3, "--latent-dim", 2, "--device", "cpu",
             "--epoch-size", 200, "--activation", "relu"]
    assert_ok(invoke(runner, ["train", "pinwheel", "--out", out, *flags]))
    model = checkpoint.load(str(out / "model.pt")).model
    for net in (model.opn, model.stn):
        kinds = {type(layer).__name__ for layer in net.body
                 if not isinstance(layer, torch.nn.Linear)}
        assert kinds == {"ReLU"}
    shown = json.loads(invoke(runner, ["info", "-c", out / "model.pt", "--json"]).stdout)
    assert shown["settings"]["activation"] == "relu"
    assert shown["train_threads"] == 1  # the tests run torch on one thread (conftest)
    assert "on 1 CPU thread(s)" in invoke(runner, ["info", "-c", out / "model.pt"]).stdout
    assert_ok(invoke(runner, ["sample", "-c", out / "model.pt", "-n", 20]))
    result = invoke(runner, ["train", "pinwheel", "--out", tmp_path / "b", "--activation", "tanh"])
    assert_one_line_error(result, 2)
    assert not (tmp_path / "b").exists()


def test_train_linear_skip_reaches_both_networks_and_the_file(runner, tmp_path, monkeypatch):
    out = tmp_path / "run"
    flags = ["--epochs", 1, "--hidden", 8, "--steps", 3, "--latent-dim", 2, "--device", "cpu",
             "--epoch-size", 200]
    assert_ok(invoke(runner, ["train", "pinwheel", "--out", out, "--linear-skip", *flags]))
    model = checkpoint.load(str(out / "model.pt")).model
    assert model.opn.skip.shape == (2, 2) and model.stn.skip.shape == (2, 2)  # (Dx, Dz), (Dz, Dx)
    assert float(model.opn.skip.detach().abs().sum()) > 0  # trained from its zero start
    shown = json.loads(invoke(runner, ["info", "-c", out / "model.pt", "--json"]).stdout)
    assert shown["settings"]["linear_skip"] is True
    assert_ok(invoke(runner, ["sample", "-c", out / "model.pt", "-n", 20]))
    assert_ok(invoke(runner, ["train", "pinwheel", "--out", tmp_path / "off",
                              "--no-linear-skip", *flags]))
    model = checkpoint.load(str(tmp_path / "off" / "model.pt")).model
    assert not hasattr(model.opn, "skip") and not hasattr(model.stn, "skip")
    monkeypatch.setenv("ALTERNATORS_LINEAR_SKIP", "maybe")
    result = invoke(runner, ["train", "pinwheel", "--out", tmp_path / "b", *flags])
    assert_one_line_error(result, 2)
    assert "linear_skip" in result.stderr or "linear-skip" in result.stderr
    assert not (tmp_path / "b").exists()


def test_train_ends_with_an_evaluation_table(tiny_run):
    out = tiny_run.train_result.stdout
    for label in ("energy distance", "MMD", "sliced W2", "floor", "ratio"):
        assert label in out
    # Progress and logs go to stderr, not into the data stream.
    assert "epoch" in tiny_run.train_result.stderr
    assert "epoch 1/" not in out


def test_train_refuses_a_non_empty_directory(runner, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("precious")
    before = snapshot(tmp_path)
    result = invoke(runner, ["train", "pinwheel", "--out", busy, *TINY_TRAIN_FLAGS])
    line = assert_one_line_error(result, 2)
    assert "--overwrite" in line
    assert snapshot(tmp_path) == before


def test_train_overwrite_on_csv_data_and_column_names(runner, tmp_path):
    data = write_csv(tmp_path / "pts.csv", draw_builtin("moons", 60, 0), ["len", "width"])
    out = tmp_path / "run"
    out.mkdir()
    (out / "old.txt").write_text("x")
    flags = ["--epochs", 1, "--hidden", 8, "--steps", 2, "--latent-dim", 2, "--device", "cpu"]
    assert_one_line_error(invoke(runner, ["train", data, "--out", out, *flags]), 2)
    result = invoke(runner, ["train", data, "--out", out, "--overwrite", "--json", *flags])
    assert_ok(result)
    report = json.loads(result.stdout)
    assert set(METRICS) <= set(report)
    assert (out / "model.pt").exists()
    sample = invoke(runner, ["sample", "-c", out / "model.pt", "-n", 3])
    assert sample.stdout.splitlines()[0] == "len,width"


def test_train_reads_csv_from_stdin(runner, tmp_path):
    points = draw_builtin("circles", 50, 0)
    text = "p,q\n" + "\n".join(f"{a},{b}" for a, b in points) + "\n"
    out = tmp_path / "run"
    result = invoke(runner, ["train", "-", "--out", out, "--epochs", 1, "--hidden", 8,
                             "--steps", 2, "--latent-dim", 2, "--device", "cpu"], input=text)
    assert_ok(result)
    assert checkpoint.load(str(out / "model.pt")).columns == ["p", "q"]


def test_train_default_out_is_runs_slash_name(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = write_csv(tmp_path / "mydata.csv", draw_builtin("rings", 30, 0))
    result = invoke(runner, ["train", "mydata.csv", "--epochs", 1, "--hidden", 8, "--steps",
                             2, "--latent-dim", 2, "--device", "cpu"])
    assert_ok(result)
    assert data.exists() and (tmp_path / "runs" / "mydata" / "model.pt").exists()


def test_train_hints_name_only_real_options(runner, tmp_path):
    """With too few rows to hold out, train says how to get an evaluation; every option
    its messages mention must be an option `train` accepts."""
    import re

    data = write_csv(tmp_path / "few.csv", draw_builtin("moons", 6, 0))
    result = invoke(runner, ["train", data, "--out", tmp_path / "run", "--epochs", 1,
                             "--hidden", 8, "--steps", 2, "--latent-dim", 2, "--device", "cpu"])
    assert_ok(result)
    assert "held-out" in result.stderr
    mentioned = set(re.findall(r"(--[a-z][a-z-]+)", result.stderr))
    help_text = invoke(runner, ["train", "--help"]).stdout
    accepted = set(re.findall(r"(--[a-z][a-z-]+)", help_text))
    assert mentioned <= accepted, f"messages mention unknown options {mentioned - accepted}"


# ---- sample -------------------------------------------------------------------------------


def test_sample_csv_header_and_row_count(runner, tiny_run):
    result = invoke(runner, ["sample", "-c", tiny_run.ckpt, "-n", 37, "--seed", 2])
    assert_ok(result)
    header, values = read_csv_body(result.stdout)
    assert header == ["x0", "x1"]
    assert values.shape == (37, 2)
    ckpt = checkpoint.load(str(tiny_run.ckpt))
    np.testing.assert_allclose(values, engine.sample(ckpt.model, ckpt.normalizer, 37, 2),
                               rtol=1e-5, atol=1e-6)


def test_sample_dash_is_stdout(runner, tiny_run):
    a = invoke(runner, ["sample", "-c", tiny_run.ckpt, "-n", 5, "-o", "-"])
    b = invoke(runner, ["sample", "-c", tiny_run.ckpt, "-n", 5])
    assert_ok(a)
    assert a.stdout_bytes == b.stdout_bytes and a.stdout.startswith("x0,x1\n")


def test_sample_npy_file(runner, tiny_run, tmp_path):
    out = tmp_path / "s.npy"
    result = invoke(runner, ["sample", "-c", tiny_run.ckpt, "-n", 21, "--format", "npy",
                             "-o", out])
    assert_ok(result)
    assert result.stdout == ""
    arr = np.load(out)
    assert arr.shape == (21, 2) and arr.dtype == np.float32


def test_sample_npy_streams_several_chunks(runner, tiny_run):
    n = engine.SAMPLE_CHUNK + 123
    result = invoke(runner, ["sample", "-c", tiny_run.ckpt, "-n", n, "--format", "npy",
                             "--seed", 4])
    assert_ok(result)
    arr = np.load(io.BytesIO(result.stdout_bytes))
    ckpt = checkpoint.load(str(tiny_run.ckpt))
    np.testing.assert_array_equal(arr, engine.sample(ckpt.model, ckpt.normalizer, n, 4))


def test_sample_all_steps_npy(runner, tiny_run, tmp_path):
    out = tmp_path / "steps.npy"
    assert_ok(invoke(runner, ["sample", "-c", tiny_run.ckpt, "-n", 13, "--all-steps",
                              "--format", "npy", "-o", out, "--seed", 1]))
    frames = np.load(out)
    assert frames.shape == (tiny_run.steps, 13, 2)
    last = invoke(runner, ["sample", "-c", tiny_run.ckpt, "-n", 13, "--format", "npy",
                           "--seed", 1])
    np.testing.assert_array_equal(frames[-1], np.load(io.BytesIO(last.stdout_bytes)))


def test_sample_all_steps_csv_has_a_step_column(runner, tiny_run):
    result = invoke(runner, ["sample", "-c", tiny_run.ckpt, "-n", 6, "--all-steps"])
    assert_ok(result)
    header, values = read_csv_body(result.stdout)
    assert header == ["step", "x0", "x1"]
    assert values.shape == (tiny_run.steps * 6, 3)
    steps = values[:, 0]
    assert list(steps) == [t for t in range(1, tiny_run.steps + 1) for _ in range(6)]


def test_same_seed_is_byte_identical_and_other_seeds_differ(runner, tiny_run):
    args = ["sample", "-c", tiny_run.ckpt, "-n", 200]
    a = invoke(runner, [*args, "--seed", 11])
    b = invoke(runner, [*args, "--seed", 11])
    c = invoke(runner, [*args, "--seed", 12])
    assert_ok(a)
    assert a.stdout_bytes == b.stdout_bytes
    assert a.stdout_bytes != c.stdout_bytes


def test_sample_from_a_csv_trained_checkpoint_uses_its_column_names(runner, csv_run):
    result = invoke(runner, ["sample", "-c", csv_run.ckpt, "-n", 4])
    assert_ok(result)
    assert result.stdout.splitlines()[0] == "u,v"


# ---- evaluate -----------------------------------------------------------------------------


def _check_report(report: dict) -> None:
    for key in ("energy_distance", "mmd", "sliced_w2"):
        entry = report[key]
        assert set(entry) >= {"value", "floor", "ratio"}
        assert all(np.isfinite(entry[k]) for k in ("value", "floor", "ratio"))
        assert entry["floor"] > 0
        assert entry["ratio"] == pytest.approx(entry["value"] / entry["floor"])


def test_evaluate_checkpoint_json(runner, tiny_run):
    result = invoke(runner, ["evaluate", "-c", tiny_run.ckpt, "-n", 300, "--json"])
    assert_ok(result)
    report = json.loads(result.stdout)
    _check_report(report)
    assert report["n"] == 300 and report["reference"] == "pinwheel"


def test_evaluate_table(runner, tiny_run):
    result = invoke(runner, ["evaluate", "-c", tiny_run.ckpt, "-n", 100])
    assert_ok(result)
    for label in ("energy distance", "MMD^2", "sliced W2", "value", "floor", "ratio"):
        assert label in result.stdout


def test_evaluate_csv_checkpoint_defaults_to_its_held_out_rows(runner, csv_run):
    result = invoke(runner, ["evaluate", "-c", csv_run.ckpt, "--json"])
    assert_ok(result)
    report = json.loads(result.stdout)
    _check_report(report)
    assert report["n"] == 5000 and report["n_reference"] == 50  # every held-out row
    assert "held-out" in report["reference"]


def test_evaluate_samples_from_a_file(runner, tmp_path):
    path = write_csv(tmp_path / "s.csv", draw_builtin("pinwheel", 300, 9), ["a", "b"])
    result = invoke(runner, ["evaluate", "--samples", path, "--reference", "pinwheel",
                             "-n", 300, "--json"])
    assert_ok(result)
    good = json.loads(result.stdout)
    _check_report(good)
    # A distribution that is plainly wrong scores far worse.
    path2 = write_csv(tmp_path / "t.csv", draw_builtin("pinwheel", 300, 9) + 2.0)
    bad = json.loads(invoke(runner, ["evaluate", "--samples", path2, "--reference",
                                     "pinwheel", "-n", 300, "--json"]).stdout)
    for key in METRICS:
        assert bad[key]["ratio"] > 3 * good[key]["ratio"]


def test_evaluate_samples_from_npy_and_a_file_reference(runner, tmp_path):
    np.save(tmp_path / "s.npy", draw_builtin("moons", 200, 1))
    ref = write_csv(tmp_path / "ref.csv", draw_builtin("moons", 120, 2))
    result = invoke(runner, ["evaluate", "--samples", tmp_path / "s.npy", "--reference", ref,
                             "--json"])
    assert_ok(result)
    report = json.loads(result.stdout)
    _check_report(report)
    assert report["n"] == 200 and report["n_reference"] == 120


def test_evaluate_samples_from_stdin(runner, tiny_run):
    samples = invoke(runner, ["sample", "-c", tiny_run.ckpt, "-n", 200, "--seed", 1]).stdout
    result = invoke(runner, ["evaluate", "--samples", "-", "--reference", "pinwheel",
                             "--json", "-n", 200], input=samples)
    assert_ok(result)
    _check_report(json.loads(result.stdout))


def test_evaluate_plot_writes_a_png(runner, tmp_path):
    path = write_csv(tmp_path / "s.csv", draw_builtin("rings", 100, 0))
    png = tmp_path / "plot.png"
    result = invoke(runner, ["evaluate", "--samples", path, "--reference", "rings",
                             "--plot", png])
    assert_ok(result)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = iio.imread(png)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100


def test_evaluate_json_is_strict_json_for_a_degenerate_reference(runner, tmp_path):
    """A constant reference has a zero floor; --json must still print valid JSON (no
    NaN/Infinity) or refuse with exit 2."""
    const = write_csv(tmp_path / "c.csv", np.ones((20, 2)))
    result = invoke(runner, ["evaluate", "--samples", const, "--reference", const, "--json"])
    if result.exit_code == 2:
        assert_one_line_error(result, 2)
        return
    assert_ok(result)

    def reject(name):
        raise AssertionError(f"not valid JSON: {name}")

    json.loads(result.stdout, parse_constant=reject)


# ---- animate ------------------------------------------------------------------------------


def test_animate_writes_a_gif_with_a_frame_per_step(runner, tiny_run, tmp_path):
    gif = tmp_path / "cycle.gif"
    result = invoke(runner, ["animate", "-c", tiny_run.ckpt, "-o", gif, "-n", 200,
                             "--fps", 2])
    assert_ok(result)
    assert gif.read_bytes()[:6] in (b"GIF87a", b"GIF89a")
    frames = iio.improps(gif, index=None).shape[0]
    assert frames >= tiny_run.steps
    images = iio.imread(gif, index=None)
    assert not np.array_equal(images[0], images[tiny_run.steps - 1]), "frames show the cycle"


def test_a_default_model_animates_to_at_least_15_frames(runner, tmp_path):
    # The CLI contract: `animate` on a model trained at the defaults writes a GIF of at
    # least 15 frames, one per step of the cycle (T = 12 broke it once).
    run = tmp_path / "default-run"
    assert_ok(invoke(runner, ["train", "pinwheel", "--out", run, "--epochs", 1,
                              "--epoch-size", 200, "--batch-size", 100, "--device", "cpu"]))
    gif = tmp_path / "default.gif"
    assert_ok(invoke(runner, ["animate", "-c", run / "model.pt", "-o", gif, "-n", 100]))
    assert iio.improps(gif, index=None).shape[0] >= 15


def test_animate_to_stdout(runner, tiny_run):
    result = invoke(runner, ["animate", "-c", tiny_run.ckpt, "-o", "-", "-n", 50])
    assert_ok(result)
    assert result.stdout_bytes[:6] in (b"GIF87a", b"GIF89a")
    assert iio.improps(result.stdout_bytes, index=None, extension=".gif").shape[0] >= 4


# ---- end to end ---------------------------------------------------------------------------


def test_end_to_end_train_sample_evaluate_animate(runner, tmp_path):
    run = tmp_path / "runs" / "pw"
    assert_ok(invoke(runner, ["train", "8gaussians", "--out", run, *TINY_TRAIN_FLAGS]))
    ckpt = run / "model.pt"
    samples = tmp_path / "samples.csv"
    assert_ok(invoke(runner, ["sample", "-c", ckpt, "-n", 400, "--seed", 1, "-o", samples]))
    header, values = read_csv_body(samples.read_text())
    assert header == ["x0", "x1"] and values.shape == (400, 2)
    result = invoke(runner, ["evaluate", "--samples", samples, "--reference", "8gaussians",
                             "--json", "--plot", tmp_path / "eval.png"])
    assert_ok(result)
    _check_report(json.loads(result.stdout))
    gif = tmp_path / "cycle.gif"
    assert_ok(invoke(runner, ["animate", "-c", ckpt, "-o", gif, "-n", 300]))
    assert iio.improps(gif, index=None).shape[0] >= 4
    assert (tmp_path / "eval.png").stat().st_size > 0


# ---- real processes -----------------------------------------------------------------------


def _env():
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("ALTERNATORS_")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def test_python_dash_m_version():
    proc = subprocess.run([sys.executable, "-m", "alternators_cli", "--version"],
                          capture_output=True, text=True, timeout=120, env=_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"alternators {__version__}")


@pytest.mark.parametrize("extra", [[], ["--all-steps"]], ids=["points", "all-steps"])
def test_sample_into_a_pipe_closed_early_ends_quietly(tiny_run, extra):
    """`alternators sample ... | head -1`: no broken-pipe traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "alternators_cli", "sample", "-c", str(tiny_run.ckpt),
         "-n", "200000", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(),
    )
    first = proc.stdout.readline()
    proc.stdout.close()  # like `head -1` exiting
    stderr = proc.stderr.read().decode()
    code = proc.wait(timeout=120)
    assert first.startswith(b"step,x0,x1" if extra else b"x0,x1")
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    assert code == 0, stderr
