"""Nothing lost, round two (issue 21): special files written in place, run directories
resolved and locked, resume that honours or refuses, limits before allocation, output
that reads back, exit codes by signal. Real files, real signals, real second processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import (
    TINY_TRAIN_FLAGS,
    assert_ok,
    assert_one_line_error,
    default_signals,
    invoke,
    snapshot,
    write_csv,
)
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

from alternators_cli import checkpoint
from alternators_cli.data import read_table
from alternators_cli.datasets import draw_builtin
from alternators_cli.files import LOCK_NAME

TINY = ["--hidden", "16", "--steps", "4", "--latent-dim", "4", "--epoch-size", "400",
        "--batch-size", "200", "--device", "cpu"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "alternators_cli", *map(str, args)]


def start(*args: str, **kwargs) -> subprocess.Popen:
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    kwargs.setdefault("preexec_fn", default_signals)
    return subprocess.Popen(cli(*args), env=kwargs.pop("env", ENV), text=True, **kwargs)


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cli(*args), env=kwargs.pop("env", ENV), capture_output=True,
                          text=True, timeout=120, **kwargs)


def wait_until(condition, proc: subprocess.Popen | None = None, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process ended early ({proc.returncode}): "
                                 f"{proc.stderr.read() if proc.stderr else ''}")
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def temporaries(directory: Path) -> list[str]:
    return sorted(p.name for p in Path(directory).iterdir() if p.name.endswith((".tmp", ".old")))


def without_lock(files: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in files.items() if k != ".lock"}


def one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def long_training(out: Path, *extra: str) -> subprocess.Popen:
    return start("train", "pinwheel", "--out", out, "--epochs", "100000",
                 "--checkpoint-every", "1", *TINY, *extra)


@pytest.fixture
def finished_run(tiny_run, tmp_path) -> Path:
    """A copy of a finished tiny run at tmp_path/runs/done."""
    done = tmp_path / "runs" / "done"
    shutil.copytree(tiny_run.dir, done)
    return done


# ---- 1. writes: atomic for regular files, in place for everything else ----------------


def test_a_regular_file_keeps_its_permissions(runner, tmp_path):
    target = tmp_path / "secret.csv"
    target.write_text("old\n")
    target.chmod(0o600)
    assert_ok(invoke(runner, ["data", "pinwheel", "-n", 5, "-o", target]))
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text().startswith("x0,x1\n")


def test_a_fifo_is_written_in_place_not_replaced(runner, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = invoke(runner, ["data", "pinwheel", "-n", 5, "-o", fifo])
    if reader.is_alive():  # the old code never opened the FIFO: release the reader
        with open(fifo, "wb"):
            pass
    reader.join(10)
    assert_ok(result)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert got and got[0].startswith(b"x0,x1\n") and len(got[0].splitlines()) == 6


def test_a_character_device_is_written_in_place(runner, tmp_path):
    null = tmp_path / "null"
    try:
        os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a /dev/null of our own
    except (PermissionError, OSError):
        pytest.skip("cannot make a device node here")
    assert_ok(invoke(runner, ["sample", "-c", "pretrained:pinwheel", "-n", 10, "-o", null]))
    assert stat.S_ISCHR(os.stat(null).st_mode)


@pytest.mark.parametrize("name", ["/dev/fd/{fd}", "/proc/self/fd/{fd}"])
def test_a_pipe_named_by_descriptor_is_written_through_it(name):
    # What `-o >(gzip > x.gz)` passes: a /dev/fd/N path of a pipe the process inherits.
    r, w = os.pipe()
    proc = subprocess.Popen(cli("data", "pinwheel", "-n", 5, "-o", name.format(fd=w)),
                            env=ENV, pass_fds=(w,), stderr=subprocess.PIPE, text=True)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert data.startswith(b"x0,x1\n") and len(data.splitlines()) == 6


def test_stdout_redirected_to_a_file_is_written_in_place(tmp_path):
    # -o /proc/self/fd/1 with stdout redirected to a file: the same file (same inode) gets
    # the data, as with `>`; it is not replaced by a new file.
    target = tmp_path / "redirected.csv"
    with open(target, "wb") as f:
        inode = os.fstat(f.fileno()).st_ino
        proc = subprocess.run(cli("data", "pinwheel", "-n", 5, "-o", "/proc/self/fd/1"),
                              env=ENV, stdout=f, stderr=subprocess.PIPE, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert target.stat().st_ino == inode
    assert target.read_text().startswith("x0,x1\n")


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143)])
def test_a_signal_while_writing_leaves_no_temporary(tmp_path, sig, code):
    big = tmp_path / "big.csv"
    proc = start("sample", "-c", "pretrained:pinwheel", "-n", 10**8, "-o", big)
    wait_until(lambda: temporaries(tmp_path), proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # neither a temporary nor a half big.csv


def test_a_temporary_left_by_sigkill_is_removed_by_the_next_write(tmp_path):
    proc = start("sample", "-c", "pretrained:pinwheel", "-n", 10**8, "-o", tmp_path / "big.csv")
    wait_until(lambda: temporaries(tmp_path), proc)
    proc.kill()
    proc.communicate(timeout=60)
    assert len(temporaries(tmp_path)) == 1  # SIGKILL cannot clean up
    done = run("data", "pinwheel", "-n", 5, "-o", tmp_path / "other.csv")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.csv"]


# ---- 2. run directories resolved before they are judged -------------------------------


def test_dot_dot_in_out_cannot_walk_around_the_no_clobber_rule(runner, finished_run,
                                                               tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    result = invoke(runner, ["train", "pinwheel", "--out", "nope/../runs/done",
                             *TINY_TRAIN_FLAGS])
    assert "overwrite" in assert_one_line_error(result, 2)
    assert snapshot(tmp_path) == before
    assert not (tmp_path / "nope").exists()


def test_a_data_file_named_dot_dot_does_not_make_the_run_directory_the_cwd(runner, tmp_path,
                                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_csv(tmp_path / "...csv", draw_builtin("moons", 40, 0), ["a", "b"])  # stem: ".."
    (tmp_path / "model.pt").write_bytes(b"precious")
    before = snapshot(tmp_path.parent)
    result = invoke(runner, ["train", "...csv", "--overwrite", "--epochs", 1, "--hidden", 8,
                             "--steps", 2, "--latent-dim", 2, "--device", "cpu"])
    assert "--out" in assert_one_line_error(result, 2)
    assert snapshot(tmp_path.parent) == before


def test_overwrite_through_a_symlink_replaces_the_run_it_points_to(runner, finished_run,
                                                                    tmp_path):
    alias = tmp_path / "alias"
    alias.symlink_to(finished_run, target_is_directory=True)
    result = invoke(runner, ["train", "pinwheel", "--out", alias, "--overwrite",
                             *TINY_TRAIN_FLAGS, "--seed", 7])
    assert_ok(result)
    assert alias.is_symlink() and alias.resolve() == finished_run.resolve()
    assert checkpoint.load(str(finished_run / "model.pt")).payload["settings"]["seed"] == 7


@pytest.mark.parametrize("command", ["train-out", "train-data", "sample-c", "data-o"])
def test_a_name_too_long_for_the_system_is_a_usage_error(runner, command, tmp_path,
                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    long = str(tmp_path / ("x" * 300))
    args = {
        "train-out": ["train", "pinwheel", "--out", long, *TINY_TRAIN_FLAGS],
        "train-data": ["train", long + ".csv", *TINY_TRAIN_FLAGS],
        "sample-c": ["sample", "-c", long + ".pt"],
        "data-o": ["data", "pinwheel", "-n", 5, "-o", long + ".csv"],
    }[command]
    assert_one_line_error(invoke(runner, args), 2)
    assert list(tmp_path.iterdir()) == []


# ---- 3. one process per run directory --------------------------------------------------


def test_a_second_process_on_a_run_directory_is_refused_and_touches_nothing(runner,
                                                                           tmp_path):
    out = tmp_path / "cc"
    first = long_training(out)
    try:
        wait_until(lambda: (out / "model.pt").exists(), first)
        # This test's own process is the second one: it must not get in.
        for extra in (["--overwrite"], ["--resume", "--epochs", "200000"]):
            second = invoke(runner, ["train", "pinwheel", "--out", out, "--epochs", "1",
                                     *TINY, *extra])
            assert "in use by another" in assert_one_line_error(second, 2)
            assert first.poll() is None  # the first run goes on
        assert sorted(p.name for p in tmp_path.iterdir()) == ["cc"]
    finally:
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=120)
    assert first.returncode == 143, err
    ckpt = checkpoint.load(str(out / "model.pt"))  # the first run's, whole
    assert ckpt.payload["epoch"] == len(ckpt.payload["history"]) >= 1
    assert not (out / ".lock").exists()


def test_the_lock_dies_with_a_killed_process(tmp_path):
    from alternators_cli.errors import BadInput
    from alternators_cli.files import RunLock

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from alternators_cli.files import RunLock; "
         f"RunLock({str(tmp_path)!r}).acquire(); print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "locked\n"
    with pytest.raises(BadInput, match="in use by another"):
        RunLock(tmp_path).acquire()
    holder.kill()
    holder.wait(timeout=60)
    with RunLock(tmp_path):  # a SIGKILL leaves the file, never the lock
        pass
    assert list(tmp_path.iterdir()) == []


# ---- 4. --resume honours a setting or refuses it by name -------------------------------


@pytest.fixture
def resumable(tmp_path, runner) -> tuple[Path, Path]:
    data = write_csv(tmp_path / "pts.csv", draw_builtin("moons", 60, 0), ["a", "b"])
    out = tmp_path / "run"
    assert_ok(invoke(runner, ["train", data, "--out", out, "--epochs", 1, "--hidden", 8,
                              "--steps", 2, "--latent-dim", 2, "--device", "cpu"]))
    return data, out


def resume(runner, data, out, *extra):
    return invoke(runner, ["train", data, "--out", out, "--resume", "--epochs", 2, *extra])


@pytest.mark.parametrize(("how", "needle"), [
    ("flag", "--precision"), ("env", "ALTERNATORS_LR"), ("config", "--hidden"),
])
def test_resume_refuses_a_setting_it_would_ignore(runner, resumable, how, needle,
                                                 monkeypatch, tmp_path):
    data, out = resumable
    before = snapshot(out)
    extra: list = []
    if how == "flag":
        extra = ["--precision", "bf16"]
    elif how == "env":
        monkeypatch.setenv("ALTERNATORS_LR", "0.1")
    else:
        (tmp_path / "c.toml").write_text("hidden = 32\n")
        extra = ["--config", tmp_path / "c.toml"]
    line = assert_one_line_error(resume(runner, data, out, *extra), 2)
    assert needle in line
    assert snapshot(out) == before


def test_resume_honours_epochs_from_the_environment(runner, resumable, monkeypatch):
    data, out = resumable
    monkeypatch.setenv("ALTERNATORS_EPOCHS", "3")
    assert_ok(invoke(runner, ["train", data, "--out", out, "--resume"]))
    assert checkpoint.load(str(out / "model.pt")).payload["epoch"] == 3


def test_resume_on_different_data_is_refused_unless_forced(runner, resumable):
    data, out = resumable
    write_csv(data, draw_builtin("moons", 60, 1), ["a", "b"])  # same name, other rows
    before = snapshot(out)
    line = assert_one_line_error(resume(runner, data, out), 2)
    assert "differs" in line and "--force-resume" in line
    assert snapshot(out) == before
    assert_ok(invoke(runner, ["train", data, "--out", out, "--force-resume", "--epochs", 2]))
    assert checkpoint.load(str(out / "model.pt")).payload["epoch"] == 2


def test_resume_of_a_file_without_a_fingerprint_still_works(runner, resumable):
    data, out = resumable
    payload = torch.load(out / "model.pt", weights_only=True)
    assert payload["data"]["fingerprint"]["rows"] == 60
    del payload["data"]["fingerprint"]  # as written before fingerprints
    torch.save(payload, out / "model.pt")
    assert_ok(resume(runner, data, out))


# ---- 5. limits checked before allocation -----------------------------------------------


def test_a_tiny_file_asking_for_a_huge_model_is_refused_without_building_it(tiny_run,
                                                                            tmp_path):
    payload = torch.load(tiny_run.ckpt, weights_only=True)
    payload = checkpoint.slim(payload)
    payload["settings"] = {**payload["settings"], "hidden": 8192, "layers": 16,
                           "latent_dim": 4096, "opn_fourier_features": 4096}
    path = tmp_path / "huge.pt"
    torch.save(payload, path)
    assert path.stat().st_size < 200_000
    proc = start("info", "-c", path)
    _, _, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read()
    assert "does not match its own settings" in one_line(err)
    # ru_maxrss is in KiB: the 2.2 GB model is never allocated (the CLI alone needs ~0.4).
    assert usage.ru_maxrss < 1_200_000, usage.ru_maxrss


@pytest.mark.parametrize("damage", ["nan-weight", "zero-scale", "nan-mean"])
def test_a_checkpoint_with_non_finite_weights_or_scale_is_refused(runner, tiny_run, tmp_path,
                                                                  damage):
    payload = torch.load(tiny_run.ckpt, weights_only=True)
    if damage == "nan-weight":
        key = next(k for k, v in payload["state"]["model"].items() if v.is_floating_point()
                   and v.dim() == 2 and v.numel())
        payload["state"]["model"][key][0, 0] = float("nan")
    elif damage == "zero-scale":
        payload["normalizer"]["scale"] = torch.zeros_like(payload["normalizer"]["scale"])
    else:
        payload["normalizer"]["mean"][0] = float("nan")
    path = tmp_path / "damaged.pt"
    torch.save(payload, path)
    line = assert_one_line_error(invoke(runner, ["sample", "-c", path, "-n", 5]), 2)
    assert "damaged" in line


def test_sample_of_an_enormous_count_streams(tiny_run):
    # `sample -n 1e12` used to list every chunk's offset first (about 9 GB).
    from alternators_cli import engine

    ckpt = checkpoint.load(str(tiny_run.ckpt))
    chunks = engine.sample_chunks(ckpt.model, ckpt.normalizer, 10**18, seed=0, workers=1)
    first = next(chunks)
    assert first.shape == (engine.SAMPLE_CHUNK, 2)
    chunks.close()


def test_sequence_sample_writes_each_chunk_before_drawing_the_next(runner, monkeypatch):
    from alternators_cli import output, sequences

    monkeypatch.setattr(sequences, "DRAW_CHUNK_CELLS", 1)  # one path per chunk
    calls = {"draws": 0, "at_first_write": None}
    real_draws, real_rows = sequences.run_draws, output.csv_rows

    def counting_draws(*args, **kwargs):
        calls["draws"] += 1
        return real_draws(*args, **kwargs)

    def noting_rows(*args, **kwargs):
        if calls["at_first_write"] is None:
            calls["at_first_write"] = calls["draws"]
        return real_rows(*args, **kwargs)

    monkeypatch.setattr(sequences, "run_draws", counting_draws)
    monkeypatch.setattr(output, "csv_rows", noting_rows)
    result = invoke(runner, ["sample", "-c", "pretrained:lorenz", "-n", 6, "--length", 5])
    assert_ok(result)
    assert calls["draws"] == 6 and calls["at_first_write"] == 1
    rows = result.stdout.splitlines()
    assert len(rows) == 1 + 6 * 5 and rows[-1].startswith("5,4,")  # path 5, t 4


def test_the_bandwidth_of_a_large_reference_needs_bounded_memory():
    # evaluate -n 40000 used to build the full 40000 x 40000 distance matrix (12.8 GB).
    code = ("import numpy as np; from alternators_cli.metrics import median_bandwidth; "
            "print(median_bandwidth(np.random.default_rng(0).normal(size=(40000, 2))))")
    import resource

    def limit_memory():  # should it fail, let it fail alone, not take the machine with it
        resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))

    proc = subprocess.Popen([sys.executable, "-c", code], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=limit_memory)
    _, _, usage = os.wait4(proc.pid, 0)
    out, err = proc.stdout.read(), proc.stderr.read()
    assert 1.0 < float(out) < 2.0, err  # the median distance of 2-D standard normals ~1.6
    assert usage.ru_maxrss < 1_500_000, usage.ru_maxrss


def test_the_bandwidth_is_unchanged_for_references_of_the_usual_size():
    from alternators_cli.metrics import EXACT, median_bandwidth

    r = np.random.default_rng(1).normal(size=(3000, 3))
    R = torch.as_tensor(r).float()
    iu = torch.triu_indices(3000, 3000, offset=1)
    exact = float(torch.cdist(R, R, compute_mode=EXACT)[iu[0], iu[1]].median())
    assert median_bandwidth(r) == exact


@pytest.mark.parametrize("args", [
    ["data", "pinwheel", "-n", 10**13],
    ["animate", "-c", "pretrained:pinwheel", "-n", 10**12, "-o", "{tmp}/a.gif"],
    ["sample", "-c", "pretrained:pinwheel", "--all-steps", "-n", 10**13],
    ["forecast", "-c", "pretrained:lorenz", "--input", "{series}", "-H", 1_000_000],
    ["evaluate", "-c", "pretrained:lorenz", "--horizon", 100_000],
])
def test_a_size_that_cannot_fit_is_refused_up_front_with_the_memory_it_needs(runner, args,
                                                                             tmp_path):
    series = tmp_path / "series.csv"
    lorenz = checkpoint.load("pretrained:lorenz")
    write_csv(series, np.zeros((30, lorenz.dim)), lorenz.columns)
    args = [str(a).format(tmp=tmp_path, series=series) for a in args]
    line = assert_one_line_error(invoke(runner, args), 2)
    assert "would need about" in line and "GiB" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["series.csv"]


# ---- 6. output that reads back; --overwrite as a whole; the environment; stdout ------


def test_a_header_with_a_comma_is_quoted_and_reads_back(runner, tmp_path):
    data = tmp_path / "q.csv"
    data.write_text('"a,b",c\n' + "\n".join(f"{x},{y}" for x, y in
                                             draw_builtin("moons", 30, 0)) + "\n")
    out = tmp_path / "run"
    assert_ok(invoke(runner, ["train", data, "--out", out, "--epochs", 1, "--hidden", 8,
                              "--steps", 2, "--latent-dim", 2, "--device", "cpu"]))
    result = invoke(runner, ["sample", "-c", out / "model.pt", "-n", 4, "-o",
                             tmp_path / "s.csv"])
    assert_ok(result)
    assert (tmp_path / "s.csv").read_text().splitlines()[0] == '"a,b",c'
    assert read_table(str(tmp_path / "s.csv")).columns == ["a,b", "c"]


def test_overwrite_replaces_the_run_directory_as_a_whole(runner, finished_run):
    (finished_run / "notes.txt").write_text("of the old run")
    result = invoke(runner, ["train", "pinwheel", "--out", finished_run, "--overwrite",
                             *TINY_TRAIN_FLAGS, "--seed", 5])
    assert_ok(result)
    assert sorted(p.name for p in finished_run.iterdir()) == [
        "loss.png", "metrics.csv", "model.pt", "notes.txt", "settings.json"]
    assert (finished_run / "notes.txt").read_text() == "of the old run"  # a user's, kept
    assert checkpoint.load(str(finished_run / "model.pt")).payload["settings"]["seed"] == 5
    assert temporaries(finished_run.parent) == []


def test_a_crash_during_overwrite_leaves_the_old_run_intact(runner, finished_run,
                                                            monkeypatch):
    from alternators_cli import runs

    def crash(trainer, run_dir):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runs, "write_run_files", crash)  # after the new model.pt is saved
    before = snapshot(finished_run)
    result = invoke(runner, ["train", "pinwheel", "--out", finished_run, "--overwrite",
                             *TINY_TRAIN_FLAGS])
    assert result.exit_code == 1
    assert snapshot(finished_run) == before
    assert temporaries(finished_run.parent) == []


def test_sigkill_during_overwrite_leaves_the_old_run_intact(finished_run):
    before = snapshot(finished_run)
    parent = finished_run.parent
    proc = long_training(finished_run, "--overwrite")
    wait_until(lambda: any(parent.glob(".done.*.tmp/model.pt")), proc)
    proc.kill()
    proc.communicate(timeout=60)
    assert without_lock(snapshot(finished_run)) == before  # a lock file may stay: empty
    assert len(temporaries(parent)) == 1  # the staging directory, until the next run
    again = run("data", "pinwheel", "-n", "2", "-o", parent / "x.csv")  # the next write there
    assert again.returncode == 0, again.stderr
    assert temporaries(parent) == []


@pytest.mark.parametrize(("command", "variable"), [
    (["datasets"], "WORLD_SIZE"), (["data", "pinwheel", "-n", "3"], "WORLD_SIZE"),
    (["train", "pinwheel", "--epochs", "1"], "WORLD_SIZE"), (["datasets"], "RANK"),
])
def test_a_malformed_torchrun_variable_is_one_line_and_exit_2(command, variable, tmp_path):
    result = run(*command, env={**ENV, variable: "abc"}, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert variable in one_line(result.stderr)
    assert result.stdout == "" and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["data", "pinwheel", "-n", "3"], ["datasets", "--json"],
                                     ["--help"]])
def test_a_closed_stdout_is_a_clean_error(command):
    result = subprocess.run(cli(*command), env=ENV, stderr=subprocess.PIPE, text=True,
                            timeout=60, preexec_fn=lambda: os.close(1))
    assert result.returncode in (1, 2), result.stderr
    line = one_line(result.stderr)
    assert "standard output" in line and "internal error" not in line


# ---- 7. exit codes by the last signal --------------------------------------------------


def test_a_hangup_stops_training_after_saving_with_exit_129(tmp_path):
    out = tmp_path / "run"
    proc = long_training(out)
    wait_until(lambda: (out / "model.pt").exists(), proc)
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 129, err
    assert "checkpoint saved to" in err
    checkpoint.load(str(out / "model.pt"))


def test_under_nohup_a_hangup_is_ignored_and_sigterm_still_stops_with_exit_143(tmp_path):
    def as_nohup() -> None:
        default_signals()
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    out = tmp_path / "run"
    proc = start("train", "pinwheel", "--out", out, "--epochs", "100000",
                 "--checkpoint-every", "1", *TINY, preexec_fn=as_nohup)
    wait_until(lambda: (out / "model.pt").exists(), proc)
    proc.send_signal(signal.SIGHUP)
    time.sleep(1.0)
    assert proc.poll() is None  # still training: the caller asked for hangups to be ignored
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    checkpoint.load(str(out / "model.pt"))


def test_two_sigterms_exit_143_not_130(tmp_path):
    out = tmp_path / "run"
    proc = start("train", "pinwheel", "--out", out, "--epochs", "100000", "--epoch-size",
                 "40000", "--batch-size", "200", "--hidden", "16", "--steps", "4",
                 "--device", "cpu", "--checkpoint-every", "1")
    wait_until(lambda: (out / "model.pt").exists(), proc)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    checkpoint.load(str(out / "model.pt"))  # the last periodic save, whole


# ---- 8. interrupted at any moment, a run directory is whole or holds no model ----------


@settings(max_examples=4, deadline=None, phases=[Phase.explicit, Phase.generate])
@given(
    delay=st.floats(min_value=0.0, max_value=3.0),
    sig=st.sampled_from([signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGKILL]),
    overwrite=st.booleans(),
)
@example(delay=0.2, sig=signal.SIGHUP, overwrite=True)  # lost once under a nohup'd suite
def test_interrupted_at_any_moment_a_run_directory_is_loadable_or_has_no_model(
    tmp_path_factory, tiny_run, delay, sig, overwrite
):
    parent = tmp_path_factory.mktemp("interrupted")
    out = parent / "run"
    if overwrite:
        shutil.copytree(tiny_run.dir, out)
    old = snapshot(out) if overwrite else None
    proc = long_training(out, *(["--overwrite"] if overwrite else []))
    time.sleep(delay)
    proc.send_signal(sig)
    proc.communicate(timeout=120)
    if out.exists() and (out / "model.pt").exists():
        ckpt = checkpoint.load(str(out / "model.pt"))
        assert ckpt.payload["epoch"] == len(ckpt.payload["history"])
        if (out / "settings.json").exists():
            json.loads((out / "settings.json").read_text())
    # A SIGKILL leaves the (empty) lock file of the run it killed: not part of either run.
    kept = {k: v for k, v in snapshot(out).items() if k != LOCK_NAME} if overwrite else None
    if overwrite and kept != old:  # replaced: by a whole new run, never a mix
        assert checkpoint.load(str(out / "model.pt")).payload["settings"]["epoch_size"] == 400
        assert (out / "settings.json").exists()
    if sig != signal.SIGKILL:
        assert temporaries(parent) == [] and (not out.exists() or temporaries(out) == [])
    else:  # what a SIGKILL leaves, the next write there removes
        assert run("data", "pinwheel", "-n", 2, "-o", parent / "x.csv").returncode == 0
        assert temporaries(parent) == []


# ---- and a few more found while looking -----------------------------------------------


def test_a_closed_stdin_reads_as_empty_input():
    result = subprocess.run(cli("evaluate", "--samples", "-", "--reference", "pinwheel"),
                            env=ENV, capture_output=True, text=True, timeout=60,
                            preexec_fn=lambda: os.close(0))
    assert result.returncode == 2, result.stderr
    assert "empty" in one_line(result.stderr)


def test_a_full_device_is_a_one_line_failure(runner, tmp_path):
    full = tmp_path / "full"
    try:
        os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))  # a /dev/full of our own
    except (PermissionError, OSError):
        pytest.skip("cannot make a device node here")
    line = assert_one_line_error(invoke(runner, ["data", "pinwheel", "-n", 5, "-o", full]), 1)
    assert "No space left" in line and "internal error" not in line
    assert stat.S_ISCHR(os.stat(full).st_mode)


def test_a_checkpoint_naming_the_wrong_number_of_columns_is_refused(runner, tiny_run,
                                                                    tmp_path):
    payload = torch.load(tiny_run.ckpt, weights_only=True)
    payload["data"]["columns"] = ["only-one"]
    torch.save(payload, tmp_path / "cols.pt")
    line = assert_one_line_error(invoke(runner, ["sample", "-c", tmp_path / "cols.pt"]), 2)
    assert "columns" in line


def test_the_fingerprint_of_a_large_file_hashes_spread_rows(tmp_path):
    from alternators_cli.training_data import FINGERPRINT_ROWS, data_fingerprint

    rows = FINGERPRINT_ROWS * 3
    np.save(tmp_path / "big.npy", np.zeros((rows, 2), np.float32))
    values = np.load(tmp_path / "big.npy", mmap_mode="r+")
    first = data_fingerprint(values)
    assert first["sampled"] and first["rows"] == rows
    values[rows - 1, 1] = 1.0  # the last row is always among those hashed
    values.flush()
    assert data_fingerprint(np.load(tmp_path / "big.npy", mmap_mode="r"))["sha256"] != \
        first["sha256"]


@pytest.mark.parametrize("args", [["info", "-c", "/dev/zero"],
                                  ["evaluate", "--samples", "/dev/zero", "--reference",
                                   "pinwheel"]])
def test_an_endless_device_as_input_is_refused_not_read(args):
    # read_bytes() of /dev/zero never ends: memory grows until the process is killed (so
    # this runs in a process of its own, with a cap on its memory).
    import resource

    if not Path("/dev/zero").is_char_device():
        pytest.skip("no /dev/zero")

    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))

    result = subprocess.run(cli(*args), env=ENV, capture_output=True, text=True, timeout=120,
                            preexec_fn=limit_memory)
    assert result.returncode == 2, result.stderr
    assert "device" in one_line(result.stderr)


def test_a_signal_whose_exception_was_dropped_still_stops_a_long_loop():
    """Python runs a signal handler wherever the main thread is; inside a finaliser what it
    raises is printed and dropped. The streaming loops check once per chunk as well."""
    from alternators_cli.cli.common import raise_if_interrupted, signals_interrupt
    from alternators_cli.errors import Interrupted

    with signals_interrupt():
        raise_if_interrupted()  # nothing received: a no-op
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.5)
        except Interrupted:
            pass  # as if raised inside a __del__ and dropped
        with pytest.raises(Interrupted) as caught:
            raise_if_interrupted()
        assert caught.value.signum == signal.SIGTERM
    with signals_interrupt():
        raise_if_interrupted()  # a new command starts with none received
