"""Every bad input is answered (issue 6): a table of bad inputs across all commands,
each exiting 2 (bad input) or 1 (runtime failure) with one line on stderr naming the
problem, no traceback and no partial output file; plus property-based tests feeding
random CSV text and random option values."""

from __future__ import annotations

import pickle
import re
import string
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_one_line_error, invoke, snapshot, stderr_lines, write_csv
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from alternators_cli.datasets import draw_builtin

# ---- the bad files ------------------------------------------------------------------------


class _Malicious:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="session")
def bad(tmp_path_factory, tiny_run) -> Path:
    d = tmp_path_factory.mktemp("bad")
    (d / "empty.csv").write_text("")
    (d / "header.csv").write_text("a,b\n")
    (d / "ragged.csv").write_text("a,b\n1,2\n3\n4,5\n")
    (d / "text.csv").write_text("a,b\n1,2\n3,four\n5,6\n")
    (d / "nan.csv").write_text("a,b\n1,2\nnan,3\n4,5\n6,7\n")
    (d / "missing_cell.csv").write_text("a,b\n1,2\n3,\n4,5\n6,7\n")
    (d / "inf.csv").write_text("a,b\n1,2\n-inf,3\n4,5\n6,7\n")
    (d / "onerow.csv").write_text("a,b\n1,2\n")
    (d / "manycols.csv").write_text(",".join(["1"] * 1_000_001) + "\n")
    (d / "binary.csv").write_bytes(b"\x00\x01\x02\xff" * 64)
    (d / "latin1.csv").write_bytes("a,b\n1,2\n3,\xe9\n".encode("latin-1"))
    (d / "huge.csv").write_text("a,b\n" + "".join(f"{i}e300,{i}\n" for i in range(1, 20)))
    (d / "longcell.csv").write_text("a,b\n1,2\n" + "1" * 200_000 + ",3\n4,5\n")
    write_csv(d / "good.csv", draw_builtin("pinwheel", 40, 0), ["a", "b"])
    write_csv(d / "three.csv", np.arange(60.0).reshape(20, 3), ["a", "b", "c"])
    write_csv(d / "small.csv", np.arange(6.0).reshape(3, 2))
    np.save(d / "cube.npy", np.zeros((4, 3, 2)))
    np.save(d / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    (d / "corrupt.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    (d / "broken.toml").write_text("epochs = = 3\n")
    (d / "unknown.toml").write_text("epochs = 1\nbogus_knob = 2\n")
    (d / "badvalue.toml").write_text("epochs = -1\n")
    (d / "afile.txt").write_text("not a directory\n")

    raw = tiny_run.ckpt.read_bytes()
    payload = torch.load(tiny_run.ckpt, weights_only=True)
    (d / "empty.pt").write_bytes(b"")
    (d / "trunc.pt").write_bytes(raw[: len(raw) // 2])
    (d / "text.pt").write_text("hello, I am not a checkpoint\n")
    torch.save({"weights": torch.zeros(3)}, d / "foreign.pt")
    torch.save({**payload, "format_version": 99}, d / "newer.pt")
    torch.save({k: v for k, v in payload.items() if k != "state"}, d / "nostate.pt")
    torch.save({**payload, "data": {**payload["data"], "dim": 3}}, d / "wrongdim.pt")
    torch.save({**payload, "kind": "sequence"}, d / "sequence.pt")
    with open(d / "legacy.pt", "wb") as f:  # another program's pickle, default protocol
        pickle.dump({"weights": [1.0, 2.0]}, f)
    torch.save({**payload, "created": _Malicious(d / "PWNED")}, d / "evil.pt")
    return d


# ---- the table ----------------------------------------------------------------------------

TINY = {"--epochs": "1", "--epoch-size": "100", "--batch-size": "50", "--hidden": "4",
        "--steps": "2", "--latent-dim": "2", "--device": "cpu"}


def train(*args: str, keep: tuple[str, ...] = ()) -> list[str]:
    """`train ARGS` plus tiny sizes for every flag the case does not set itself, so that a
    missing check costs a second of training, not minutes."""
    extra = [x for flag, value in TINY.items()
             if flag not in args and flag not in keep for x in (flag, value)]
    return ["train", *args, *extra]


@dataclass
class Case:
    id: str
    args: list[str]
    needle: str  # regex the error line must match (case-insensitive)
    code: int | tuple[int, ...] = 2
    stdin: str | None = None


CASES = [
    # data
    Case("data-unknown-set", ["data", "nosuch"], r"unknown dataset"),
    Case("data-n-zero", ["data", "pinwheel", "-n", "0"], r"-n|--num"),
    Case("data-n-text", ["data", "pinwheel", "-n", "many"], r"-n|--num"),
    Case("data-seed-negative", ["data", "pinwheel", "--seed", "-1"], r"seed"),
    Case("data-format-unknown", ["data", "pinwheel", "--format", "xml"], r"format"),
    Case("data-out-missing-dir", ["data", "pinwheel", "-o", "{work}/nodir/x.csv"],
         r"nodir|does not exist"),
    Case("data-out-is-dir", ["data", "pinwheel", "-o", "{work}"], r"directory"),
    Case("data-out-under-file", ["data", "pinwheel", "-o", "{bad}/afile.txt/x.csv"],
         r"not a directory"),
    Case("data-out-unwritable", ["data", "pinwheel", "-o", "/proc/alternators-test.csv"],
         r"writ|cannot|permission|/proc"),
    Case("data-extra-argument", ["data", "pinwheel", "moons"], r"extra argument|moons"),
    # train: data
    Case("train-unknown-set", train("nosuch"), r"unknown dataset"),
    Case("train-missing-file", train("{bad}/missing.csv"), r"not found"),
    Case("train-directory", train("{bad}"), r"directory"),
    Case("train-empty-csv", train("{bad}/empty.csv"), r"empty"),
    Case("train-header-only", train("{bad}/header.csv"), r"header|no rows"),
    Case("train-ragged", train("{bad}/ragged.csv"), r"ragged|columns"),
    Case("train-text-cell", train("{bad}/text.csv"), r"not a number"),
    Case("train-nan", train("{bad}/nan.csv"), r"nan|missing"),
    Case("train-missing-cell", train("{bad}/missing_cell.csv"), r"nan|missing"),
    Case("train-inf", train("{bad}/inf.csv"), r"infinite"),
    Case("train-one-row", train("{bad}/onerow.csv"), r"row"),
    Case("train-million-columns", train("{bad}/manycols.csv"), r"columns"),
    Case("train-binary", train("{bad}/binary.csv"), r"binary|UTF-8|text"),
    Case("train-latin1-text-cell", train("{bad}/latin1.csv"), r"not a number"),
    Case("train-npy-3d", train("{bad}/cube.npy"), r"shape"),
    Case("train-npy-objects", train("{bad}/objects.npy"), r"object|pickle"),
    Case("train-npy-corrupt", train("{bad}/corrupt.npy"), r"npy"),
    Case("train-stdin-empty", train("-"), r"empty", stdin=""),
    Case("train-stdin-text", train("-"), r"not a number", stdin="a,b\n1,x\n2,3\n"),
    Case("train-values-beyond-float32", train("{bad}/huge.csv"),
         r"range|too large|float32|finite|overflow"),
    Case("train-long-cell", train("{bad}/longcell.csv"), r"longcell|field|cell|long"),
    # train: options
    Case("train-epochs-zero", train("pinwheel", "--epochs", "0"), r"epochs"),
    Case("train-epochs-negative", train("pinwheel", "--epochs", "-3"), r"epochs"),
    Case("train-epochs-text", train("pinwheel", "--epochs", "ten"), r"epochs"),
    Case("train-batch-zero", train("pinwheel", "--batch-size", "0"), r"batch"),
    Case("train-steps-zero", train("pinwheel", "--steps", "0"), r"steps"),
    Case("train-latent-negative", train("pinwheel", "--latent-dim", "-1"), r"latent"),
    Case("train-hidden-zero", train("pinwheel", "--hidden", "0"), r"hidden"),
    Case("train-lr-negative", train("pinwheel", "--lr", "-0.1"), r"lr"),
    Case("train-lr-nan", train("pinwheel", "--lr", "nan"), r"lr"),
    Case("train-alpha-above-one", train("pinwheel", "--alpha", "1.5"), r"alpha"),
    Case("train-alpha-plus-sigma-z", train("pinwheel", "--alpha", "0.9", "--noise-max", "0.9",
                                           "--sigma-z-scale", "1"), r"alpha"),
    Case("train-noise-min-above-max", train("pinwheel", "--noise-min", "0.6",
                                            "--noise-max", "0.5"), r"noise"),
    Case("train-noise-max-one", train("pinwheel", "--noise-max", "1.0"), r"noise"),
    Case("train-ema-one", train("pinwheel", "--ema", "1"), r"ema"),
    Case("train-objective-unknown", train("pinwheel", "--objective", "magic"), r"objective"),
    Case("train-device-unknown", train("pinwheel", "--device", "tpu"), r"device"),
    Case("train-device-absent", train("pinwheel", "--device", "cuda:99"), r"cuda"),
    Case("train-checkpoint-every-negative", train("pinwheel", "--checkpoint-every", "-1"),
         r"checkpoint-every"),
    Case("train-unknown-option", train("pinwheel", "--epoch", "3"), r"--epoch"),
    Case("train-seed-too-large", train("pinwheel", "--seed", str(2**70)), r"seed"),
    # train: config, run directory, resume
    Case("train-config-missing", train("pinwheel", "--config", "{bad}/nope.toml"), r"config"),
    Case("train-config-directory", train("pinwheel", "--config", "{bad}"), r"directory"),
    Case("train-config-broken", train("pinwheel", "--config", "{bad}/broken.toml"), r"TOML"),
    Case("train-config-unknown-key", train("pinwheel", "--config", "{bad}/unknown.toml"),
         r"bogus_knob"),
    Case("train-config-bad-value",
         train("pinwheel", "--config", "{bad}/badvalue.toml", keep=("--epochs",)), r"epochs"),
    Case("train-out-not-empty", train("pinwheel", "--out", "{work}/busy"), r"overwrite|empty"),
    Case("train-out-is-file", train("pinwheel", "--out", "{bad}/afile.txt", "--overwrite"),
         r"file|directory"),
    Case("train-out-under-file", train("pinwheel", "--out", "{bad}/afile.txt/run"),
         r"directory"),
    Case("train-resume-and-overwrite", train("pinwheel", "--out", "{work}/busy", "--resume",
                                             "--overwrite"), r"resume"),
    Case("train-resume-nothing", train("pinwheel", "--out", "{work}/run", "--resume"),
         r"resume|checkpoint"),
    # sample
    Case("sample-no-checkpoint", ["sample"], r"checkpoint"),
    Case("sample-checkpoint-missing", ["sample", "-c", "{bad}/nope.pt"], r"not found"),
    Case("sample-checkpoint-directory", ["sample", "-c", "{bad}"], r"directory"),
    Case("sample-checkpoint-empty", ["sample", "-c", "{bad}/empty.pt"], r"empty"),
    Case("sample-checkpoint-truncated", ["sample", "-c", "{bad}/trunc.pt"], r"truncated"),
    Case("sample-checkpoint-text", ["sample", "-c", "{bad}/text.pt"],
         r"text\.pt.*(not|checkpoint)"),
    Case("sample-checkpoint-foreign", ["sample", "-c", "{bad}/foreign.pt"],
         r"not an alternators checkpoint|foreign"),
    Case("sample-checkpoint-legacy-pickle", ["sample", "-c", "{bad}/legacy.pt"],
         r"legacy\.pt"),
    Case("sample-checkpoint-newer", ["sample", "-c", "{bad}/newer.pt"], r"newer|upgrade"),
    Case("sample-checkpoint-damaged", ["sample", "-c", "{bad}/nostate.pt"], r"missing|damaged"),
    Case("sample-checkpoint-wrong-shapes", ["sample", "-c", "{bad}/wrongdim.pt"],
         r"match|shape"),
    Case("sample-checkpoint-wrong-kind", ["sample", "-c", "{bad}/sequence.pt", "-n", "3"],
         r"kind|sequence"),
    Case("sample-checkpoint-malicious", ["sample", "-c", "{bad}/evil.pt"], r"refused|code"),
    Case("sample-pretrained-unknown", ["sample", "-c", "pretrained:nosuch"], r"pretrained"),
    Case("sample-n-zero", ["sample", "-c", "{ckpt}", "-n", "0"], r"-n|--num"),
    Case("sample-format-unknown", ["sample", "-c", "{ckpt}", "--format", "parquet"], r"format"),
    Case("sample-device-unknown", ["sample", "-c", "{ckpt}", "--device", "gpu"], r"device"),
    Case("sample-out-missing-dir", ["sample", "-c", "{ckpt}", "-o", "{work}/nodir/s.csv"],
         r"nodir|does not exist"),
    Case("sample-out-is-dir", ["sample", "-c", "{ckpt}", "-o", "{work}/busy"], r"directory"),
    Case("sample-out-unwritable", ["sample", "-c", "{ckpt}", "-o", "/proc/alternators.csv"],
         r"writ|cannot|permission|/proc"),
    # evaluate
    Case("evaluate-nothing", ["evaluate"], r"--checkpoint|--samples"),
    Case("evaluate-both-sources", ["evaluate", "-c", "{ckpt}", "--samples", "{bad}/good.csv"],
         r"exactly one|both|--checkpoint"),
    Case("evaluate-samples-without-reference", ["evaluate", "--samples", "{bad}/good.csv"],
         r"reference"),
    Case("evaluate-samples-missing", ["evaluate", "--samples", "{bad}/nope.csv",
                                      "--reference", "pinwheel"], r"not found"),
    Case("evaluate-samples-unreadable", ["evaluate", "--samples", "/proc/self/mem",
                                         "--reference", "pinwheel"], r"read"),
    Case("evaluate-samples-wrong-columns", ["evaluate", "--samples", "{bad}/three.csv",
                                            "--reference", "pinwheel"], r"column"),
    Case("evaluate-reference-wrong-columns-for-checkpoint",
         ["evaluate", "-c", "{ckpt}", "--reference", "{bad}/three.csv"], r"column|3"),
    Case("evaluate-stdin-empty", ["evaluate", "--samples", "-", "--reference", "pinwheel"],
         r"empty", stdin=""),
    Case("evaluate-stdin-nan", ["evaluate", "--samples", "-", "--reference", "pinwheel"],
         r"nan|missing", stdin="a,b\n1,2\nnan,3\n4,5\n"),
    Case("evaluate-stdin-ragged", ["evaluate", "--samples", "-", "--reference", "pinwheel"],
         r"ragged|columns", stdin="a,b\n1,2\n3\n"),
    Case("evaluate-samples-one-row", ["evaluate", "--samples", "{bad}/onerow.csv",
                                      "--reference", "pinwheel"], r"row"),
    Case("evaluate-samples-inf", ["evaluate", "--samples", "{bad}/inf.csv",
                                  "--reference", "pinwheel"], r"infinite"),
    Case("evaluate-samples-beyond-float32", ["evaluate", "--samples", "{bad}/huge.csv",
                                             "--reference", "pinwheel"],
         r"huge\.csv|range|too large|float32|finite"),
    Case("evaluate-samples-long-cell", ["evaluate", "--samples", "{bad}/longcell.csv",
                                        "--reference", "pinwheel"], r"longcell|field|cell"),
    Case("evaluate-reference-unknown", ["evaluate", "--samples", "{bad}/good.csv",
                                        "--reference", "nosuch"], r"unknown dataset"),
    Case("evaluate-reference-stdin", ["evaluate", "--samples", "{bad}/good.csv",
                                      "--reference", "-"], r"standard input|stdin"),
    Case("evaluate-reference-too-small", ["evaluate", "--samples", "{bad}/good.csv",
                                          "--reference", "{bad}/small.csv"], r"row"),
    Case("evaluate-reference-beyond-float32", ["evaluate", "--samples", "{bad}/good.csv",
                                               "--reference", "{bad}/huge.csv", "--json"],
         r"huge\.csv|range|too large|float32|finite"),
    Case("evaluate-reference-nan", ["evaluate", "--samples", "{bad}/good.csv",
                                    "--reference", "{bad}/nan.csv"], r"nan|missing"),
    Case("evaluate-n-one", ["evaluate", "-c", "{ckpt}", "-n", "1"], r"-n|--num"),
    Case("evaluate-wrong-kind", ["evaluate", "-c", "{bad}/sequence.pt", "-n", "20"],
         r"kind|sequence"),
    Case("evaluate-plot-missing-dir", ["evaluate", "--samples", "{bad}/good.csv", "--reference",
                                       "pinwheel", "--plot", "{work}/nodir/p.png"],
         r"nodir|does not exist"),
    Case("evaluate-plot-is-dir", ["evaluate", "--samples", "{bad}/good.csv", "--reference",
                                  "pinwheel", "--plot", "{work}/busy"], r"directory"),
    Case("evaluate-plot-unwritable", ["evaluate", "--samples", "{bad}/good.csv", "--reference",
                                      "pinwheel", "--plot", "/proc/alternators.png"],
         r"writ|cannot|permission|/proc"),
    # animate
    Case("animate-not-gif", ["animate", "-c", "{ckpt}", "-o", "{work}/a.png"], r"gif"),
    Case("animate-checkpoint-missing", ["animate", "-c", "{bad}/nope.pt", "-o",
                                        "{work}/a.gif"], r"not found"),
    Case("animate-fps-zero", ["animate", "-c", "{ckpt}", "--fps", "0", "-o", "{work}/a.gif"],
         r"fps"),
    Case("animate-fps-huge", ["animate", "-c", "{ckpt}", "--fps", "1000", "-o",
                              "{work}/a.gif"], r"fps"),
    Case("animate-n-zero", ["animate", "-c", "{ckpt}", "-n", "0", "-o", "{work}/a.gif"],
         r"-n|--num"),
    Case("animate-out-missing-dir", ["animate", "-c", "{ckpt}", "-n", "10", "-o",
                                     "{work}/nodir/a.gif"], r"nodir|does not exist"),
    Case("animate-out-unwritable", ["animate", "-c", "{ckpt}", "-n", "10", "-o",
                                    "/proc/alternators.gif"], r"writ|cannot|permission|/proc"),
    Case("animate-malicious", ["animate", "-c", "{bad}/evil.pt", "-o", "{work}/a.gif"],
         r"refused|code"),
    Case("animate-wrong-kind", ["animate", "-c", "{bad}/sequence.pt", "-n", "10", "-o",
                                "{work}/a.gif"], r"kind|sequence"),
    # info and the root
    Case("info-no-checkpoint", ["info"], r"checkpoint"),
    Case("info-foreign", ["info", "-c", "{bad}/foreign.pt"], r"foreign|not an alternators"),
    Case("info-truncated", ["info", "-c", "{bad}/trunc.pt"], r"truncated"),
    Case("info-malicious", ["info", "-c", "{bad}/evil.pt"], r"refused|code"),
    Case("unknown-command", ["bogus"], r"bogus"),
    Case("unknown-root-option", ["--bogus"], r"bogus"),
]


def test_the_table_is_large_and_distinct():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    assert len({tuple(c.args) + (c.stdin,) for c in CASES}) == len(CASES)
    commands = {c.args[0] for c in CASES}
    assert {"data", "train", "sample", "evaluate", "animate", "info"} <= commands


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, runner, bad, tiny_run, tmp_path, monkeypatch):
    work = tmp_path / "work"
    (work / "busy").mkdir(parents=True)
    (work / "busy" / "keep.txt").write_text("precious")
    monkeypatch.chdir(work)  # a default output (e.g. runs/<name>) would land here
    args = [a.format(bad=bad, ckpt=tiny_run.ckpt, work=work) for a in case.args]
    before = snapshot(work)
    ckpt_before = tiny_run.ckpt.read_bytes()

    result = invoke(runner, args, input=case.stdin)

    line = assert_one_line_error(result, case.code)
    assert re.search(case.needle, line, re.IGNORECASE), f"{line!r} does not name the problem"
    assert "internal error" not in line, f"an unanticipated failure, not a handled one: {line}"
    assert snapshot(work) == before, "a partial or unexpected output file was left behind"
    assert not (bad / "PWNED").exists(), "a checkpoint's code ran"
    assert tiny_run.ckpt.read_bytes() == ckpt_before


# ---- property-based tests -------------------------------------------------------------------

CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**6, 10**6).map(str),
    st.floats(-5, 5).map(lambda v: f"{v:.3f}"),
    st.sampled_from(["", " ", "nan", "NA", "inf", "-inf", "1e300", "-1e39", "1e-320", "x",
                     "abc", '"1"', '"', "1,5", "0x10", "#", "1_0", "\t"]),
    st.text(alphabet=string.printable, max_size=6),
)


@st.composite
def csv_texts(draw) -> str:
    """Mostly CSV-shaped text (rows of cells, maybe a header, maybe ragged), sometimes
    arbitrary text."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.text(max_size=200))
    width = draw(st.integers(1, 3))
    n_rows = draw(st.integers(0, 30))
    numeric = st.floats(-10, 10, allow_nan=False).map(lambda v: f"{v:.4g}")
    rows = []
    for _ in range(n_rows):
        w = width if draw(st.integers(0, 9)) else draw(st.integers(1, 4))
        rows.append([draw(numeric) if draw(st.integers(0, 5)) else draw(CELLS)
                     for _ in range(w)])
    lines = [",".join(r) for r in rows]
    if draw(st.booleans()):
        lines.insert(0, ",".join(f"c{i}" for i in range(width)))
    end = draw(st.sampled_from(["\n", "\r\n", ""]))
    return "\n".join(lines) + end


PROPERTY = dict(max_examples=25, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def check_contract(result, allowed=(0, 2)) -> None:
    assert "Traceback" not in result.stderr
    assert result.exit_code in allowed, (
        f"exit {result.exit_code}: " + " | ".join(stderr_lines(result)))
    if result.exit_code != 0:
        assert_one_line_error(result, result.exit_code)


# Explicit examples: values finite in float64 but not in float32, a cell longer than the
# csv module's field limit, and a plain valid table.
EXAMPLES = ["a,b\n1e300,2\n3,4\n5,6\n", "a,b\n1,2\n" + "7" * 140_000 + ",3\n4,5\n",
            "a,b\n1,2\n3,4\n5,6\n7,9\n"]


@settings(**PROPERTY)
@given(text=csv_texts())
@example(text=EXAMPLES[0])
@example(text=EXAMPLES[1])
@example(text=EXAMPLES[2])
def test_random_csv_to_evaluate_from_stdin(text):
    result = invoke(CliRunner(), ["evaluate", "--samples", "-", "--reference", "pinwheel",
                                  "-n", "50", "--json"], input=text)
    check_contract(result)
    if result.exit_code == 0:
        import json

        report = json.loads(result.stdout, parse_constant=lambda c: pytest.fail(c))
        assert {"energy_distance", "mmd", "sliced_w2"} <= set(report)


@pytest.fixture(scope="session")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("scratch")


@settings(**PROPERTY, phases=[Phase.explicit, Phase.generate])  # no (slow) shrinking
@given(text=csv_texts())
@example(text=EXAMPLES[0])
@example(text=EXAMPLES[1])
@example(text=EXAMPLES[2])
def test_random_csv_to_train(text, scratch):
    out = Path(tempfile.mkdtemp(dir=scratch)) / "run"
    result = invoke(CliRunner(), ["train", "-", "--out", out, "--epochs", "1", "--hidden", "4",
                                  "--steps", "2", "--latent-dim", "2", "--batch-size", "16",
                                  "--device", "cpu"], input=text)
    check_contract(result)
    if result.exit_code == 0:
        assert (out / "model.pt").exists()
    else:
        assert not out.exists() or not any(out.iterdir()), "partial output left behind"


def _opt(flag: str, values) -> st.SearchStrategy:
    return st.one_of(st.just([]), values.map(lambda v: [flag, str(v)]))


FLOATISH = st.one_of(st.floats(-1.5, 2.5), st.sampled_from(["nan", "inf", "-0", "abc", ""]))


@settings(**PROPERTY, phases=[Phase.explicit, Phase.generate])
@given(
    opts=st.tuples(
        _opt("--epochs", st.one_of(st.integers(-3, 2), st.just("two"))),
        _opt("--batch-size", st.integers(-2, 64)),
        _opt("--steps", st.integers(-1, 4)),
        _opt("--latent-dim", st.integers(-1, 4)),
        _opt("--hidden", st.integers(-1, 12)),
        _opt("--layers", st.integers(-1, 3)),
        _opt("--lr", st.one_of(st.floats(-0.01, 0.01), st.sampled_from(["nan", "x", "0"]))),
        _opt("--alpha", FLOATISH),
        _opt("--noise-max", FLOATISH),
        _opt("--noise-min", FLOATISH),
        _opt("--sigma-z-scale", FLOATISH),
        _opt("--ema", FLOATISH),
        _opt("--seed", st.integers(-3, 2**65)),
        _opt("--objective", st.sampled_from(["energy", "mse", "fancy"])),
        _opt("--device", st.sampled_from(["cpu", "tpu", "cuda:x", "", "CPU"])),
        _opt("--checkpoint-every", st.integers(-2, 2)),
    )
)
def test_random_train_options(opts, scratch, user_csv):
    args = [x for opt in opts for x in opt]
    if "--epochs" not in args:
        args += ["--epochs", "1"]
    if "--device" not in args:
        args += ["--device", "cpu"]
    out = Path(tempfile.mkdtemp(dir=scratch)) / "run"
    result = invoke(CliRunner(), ["train", user_csv, "--out", out, *args])
    check_contract(result)


@settings(**PROPERTY)
@given(
    command=st.sampled_from(["data", "sample", "animate", "evaluate"]),
    n=st.one_of(st.integers(-3, 40), st.just("lots")),
    seed=st.one_of(st.integers(-2, 2**70), st.just("s")),
    fmt=st.sampled_from(["csv", "npy", "json"]),
    name=st.sampled_from(["pinwheel", "2spirals", "Pinwheel", "", "nosuch"]),
    fps=st.one_of(st.floats(-1, 200), st.just("fast")),
)
def test_random_option_values_for_other_commands(command, n, seed, fmt, name, fps, tiny_run,
                                                 scratch):
    out = Path(tempfile.mkdtemp(dir=scratch))
    if command == "data":
        args = ["data", name, "-n", n, "--seed", seed, "--format", fmt, "-o", out / "d.out"]
    elif command == "sample":
        args = ["sample", "-c", tiny_run.ckpt, "-n", n, "--seed", seed, "--format", fmt,
                "-o", out / "s.out"]
    elif command == "animate":
        args = ["animate", "-c", tiny_run.ckpt, "-n", n, "--seed", seed, "--fps", fps,
                "-o", out / "a.gif"]
    else:
        args = ["evaluate", "-c", tiny_run.ckpt, "-n", n, "--seed", seed, "--reference", name,
                "--json"]
    result = invoke(CliRunner(), args)
    check_contract(result)
    if result.exit_code != 0:
        assert list(out.iterdir()) == [], "partial output left behind"
