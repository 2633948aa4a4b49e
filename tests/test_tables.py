"""Users' own tables: per-column normalisation, integer and text columns, bad tables, and
an evaluation with intervals, a classifier test and a Gaussian baseline (issue 22)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from helpers import assert_ok, invoke, stderr_lines
from typer.testing import CliRunner

from alternators_cli import baselines, evaluation
from alternators_cli.datasets import draw_builtin
from alternators_cli.normalize import Normalizer, integer_columns
from alternators_cli.settings import DistributionSettings
from alternators_cli.trainer import Trainer
from alternators_cli.training_data import TrainingData, split_indices

TINY = ["--epochs", "2", "--hidden", "8", "--steps", "3", "--latent-dim", "3",
        "--device", "cpu"]


@pytest.fixture
def runner():
    return CliRunner()


def mixed_units(n: int, seed: int = 0) -> np.ndarray:
    """Columns in very different units: millimetres beside tonnes, plus a count."""
    rng = np.random.default_rng(seed)
    tiny = 0.001 * rng.standard_normal(n) + 0.01
    huge = 1000 + 100 * rng.standard_normal(n)
    count = rng.poisson(4, n).astype(float)
    return np.stack([tiny, huge, count], axis=1)


def write(path, x, header="tiny,huge,count"):
    lines = [header] + [",".join(repr(float(v)) for v in row) for row in x]
    path.write_text("\n".join(lines) + "\n")
    return path


def sample_csv(runner, ckpt, n=400) -> np.ndarray:
    result = invoke(runner, ["sample", "-c", ckpt, "-n", n, "--seed", 3])
    assert_ok(result)
    return np.loadtxt(io.StringIO(result.stdout), delimiter=",", skiprows=1)


def test_each_column_keeps_its_own_scale(runner, tmp_path):
    """With one shared scale the 0.001-wide column came back spread over about +-100."""
    data = write(tmp_path / "mixed.csv", mixed_units(300))
    assert_ok(invoke(runner, ["train", data, "--out", tmp_path / "run", *TINY]))
    samples = sample_csv(runner, tmp_path / "run" / "model.pt")
    assert samples.shape == (400, 3)
    assert np.abs(samples[:, 0] - 0.01).max() < 0.05, samples[:, 0].std()
    assert 500 < samples[:, 1].mean() < 1500
    info = json.loads(invoke(runner, ["info", "-c", tmp_path / "run" / "model.pt",
                                      "--json"]).stdout)
    assert info["settings"]["normalize"] == "auto"


def test_normalize_shared_keeps_one_scale(runner, tmp_path):
    data = write(tmp_path / "mixed.csv", mixed_units(300))
    assert_ok(invoke(runner, ["train", data, "--out", tmp_path / "run", "--normalize",
                              "shared", *TINY]))
    payload = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    scale = payload["normalizer"]["scale"].numpy()
    assert np.allclose(scale, scale[0])
    assert payload["settings"]["normalize"] == "shared"


def test_builtins_keep_one_shared_scale_under_auto():
    data = TrainingData("pinwheel", 2, ["x0", "x1"], True)
    settings = DistributionSettings(epochs=1, epoch_size=100, batch_size=50, hidden=8, steps=2)
    trainer = Trainer(settings, data, torch.device("cpu"))
    assert trainer.normalizer.scale[0] == trainer.normalizer.scale[1]
    assert trainer.normalizer.integer is None


def test_per_column_fit_is_robust_to_constant_and_huge_columns():
    x = np.stack([np.full(50, 3.0), np.linspace(-1e30, 1e30, 50)], axis=1)
    norm = Normalizer.fit(x, per_column=True)
    assert norm.scale[0] == 1.0 and np.isfinite(norm.scale).all()
    assert np.isfinite(norm.encode(x)).all()


def test_integer_columns_come_back_as_integers(runner, tmp_path):
    data = write(tmp_path / "mixed.csv", mixed_units(300))
    assert_ok(invoke(runner, ["train", data, "--out", tmp_path / "run", *TINY]))
    samples = sample_csv(runner, tmp_path / "run" / "model.pt")
    assert np.all(samples[:, 2] == np.round(samples[:, 2]))
    assert not np.all(samples[:, 1] == np.round(samples[:, 1]))
    assert list(integer_columns(mixed_units(50))) == [False, False, True]


def test_column_names_and_order_are_kept(runner, tmp_path):
    data = write(tmp_path / "mixed.csv", mixed_units(200), header="b_first,a_second,c")
    assert_ok(invoke(runner, ["train", data, "--out", tmp_path / "run", *TINY]))
    out = invoke(runner, ["sample", "-c", tmp_path / "run" / "model.pt", "-n", 5]).stdout
    assert out.splitlines()[0] == "b_first,a_second,c"


@pytest.mark.parametrize(
    "text,needles",
    [
        ("a,b,color\n1,2,red\n3,4,blue\n5,6,red\n", ["column 3", "'color'", "text"]),
        ("a,b\n1,2\n3,x\n5,6\n", ["row 3", "'b'", "not a number"]),
        ("a,b\n1,2\n3,2\n5,2\n", ["'b'", "constant"]),
        ("a,b\n1,\n3,\n5,\n", ["'b'", "no value"]),
        ("a,b\n1,2\n", ["1 row"]),
        ("a,b\n1,2\n3,inf\n4,5\n", ["'b'", "infinite"]),
        ("a,b\n1,2\n3,1e39\n4,5\n", ["'b'", "out of range"]),
    ],
)
def test_bad_tables_answer_in_one_line_naming_the_column(runner, tmp_path, text, needles):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    result = invoke(runner, ["train", path, "--out", tmp_path / "run", *TINY])
    assert result.exit_code == 2
    lines = stderr_lines(result)
    assert len(lines) == 1 and "Traceback" not in result.stderr, lines
    for needle in needles:
        assert needle in lines[0], lines
    assert not (tmp_path / "run").exists()


def test_held_out_part_has_a_minimum():
    assert len(split_indices(150, 0.2, 0)[1]) == 50  # 30 by the fraction
    assert len(split_indices(90, 0.2, 0)[1]) == 30  # a third of the rows at most
    assert len(split_indices(1000, 0.2, 0)[1]) == 200
    assert len(split_indices(150, 0.0, 0)[1]) == 0


def test_small_tables_get_several_batches_per_epoch():
    data = TrainingData("t", 3, ["a", "b", "c"], False, mixed_units(142))
    settings = DistributionSettings(epochs=1, hidden=8, steps=2)
    trainer = Trainer(settings, data, torch.device("cpu"))
    assert trainer.batch_size() == 100 and trainer.batches_per_epoch() == 2
    big = TrainingData("t", 3, ["a", "b", "c"], False, mixed_units(5000))
    assert Trainer(settings, big, torch.device("cpu")).batch_size() == 500


def test_a_120_row_table_gets_800_steps_and_a_schedule_that_ends_with_them():
    """The measured rule (docs/ablations.md, "Optimiser steps for small tables"): iris's
    120 training rows get batches of 100, 2 steps per epoch, 800 at the default 400
    epochs; the learning rate's cosine reaches zero at the last of them."""
    data = TrainingData("t", 3, ["a", "b", "c"], False, mixed_units(120))
    trainer = Trainer(DistributionSettings(hidden=8, steps=2), data, torch.device("cpu"))
    assert trainer.settings.epochs == 400
    assert trainer.batch_size() == 100 and trainer.batches_per_epoch() == 2
    assert [len(b) for b in trainer.batches(0)] == [100, 20]  # one pass over the rows
    factor = trainer.scheduler.lr_lambdas[0]
    assert factor(799) > 0 and factor(800) == 0.0
    short = Trainer(DistributionSettings(epochs=1, hidden=8, steps=2), data,
                    torch.device("cpu"))
    short.run()
    assert short.scheduler.last_epoch == 2  # optimiser steps taken in one epoch


def test_a_files_table_gets_the_table_latent_unless_one_is_given(runner, tmp_path):
    """The measured default (docs/ablations.md, "Latent size of a table"): 14 for a file's
    table, 20 for a built-in set; a given --latent-dim (flag, environment or a file's
    settings) is kept, and the checkpoint holds the size it was built with."""
    data = TrainingData("t", 3, ["a", "b", "c"], False, mixed_units(120))
    table = Trainer(DistributionSettings(hidden=8, steps=2), data, torch.device("cpu"))
    assert table.settings.latent_dim == 14 and table.model.config.latent_dim == 14
    given = Trainer(DistributionSettings(hidden=8, steps=2, latent_dim=20), data,
                    torch.device("cpu"))
    assert given.settings.latent_dim == 20
    builtin = Trainer(DistributionSettings(epochs=1, epoch_size=100, hidden=8, steps=2),
                      TrainingData("pinwheel", 2, ["x0", "x1"], True), torch.device("cpu"))
    assert builtin.settings.latent_dim == 20
    csv = write(tmp_path / "mixed.csv", mixed_units(200))
    tiny = ["--epochs", "2", "--hidden", "8", "--steps", "3", "--device", "cpu"]
    assert_ok(invoke(runner, ["train", csv, "--out", tmp_path / "run", *tiny]))
    payload = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    assert payload["settings"]["latent_dim"] == 14
    assert_ok(invoke(runner, ["sample", "-c", tmp_path / "run" / "model.pt", "-n", 5]))
    from_env = CliRunner(env={"ALTERNATORS_LATENT_DIM": "5"})  # one more way to give it
    assert_ok(invoke(from_env, ["train", csv, "--out", tmp_path / "env", *tiny]))
    payload = torch.load(tmp_path / "env" / "model.pt", weights_only=True)
    assert payload["settings"]["latent_dim"] == 5


# ---- evaluation of tables ---------------------------------------------------------------


def test_table_floor_makes_a_perfect_model_score_about_1():
    """Draws of the reference's own distribution: ratio about 1, unbiased energy about 0
    with an interval that covers 0; a shifted copy is far off and easy to classify."""
    ratios, covered = [], 0
    for seed in range(6):
        ref = evaluation.Reference("t", False, draw_builtin("moons", 200, 100 + seed))
        good = evaluation.report(draw_builtin("moons", 2000, seed), ref, 2000, seed)
        ratios.append([good[k]["ratio"] for k in ("energy_distance", "mmd", "sliced_w2")])
        e, energy = good["excess_energy"], good["energy_distance"]
        assert e["low"] <= e["value"] <= e["high"]
        assert energy["ratio_low"] <= energy["ratio"] <= energy["ratio_high"]
        covered += e["low"] <= 0 <= e["high"]
        assert abs(good["c2st"]["accuracy"] - 0.5) < 0.15
    mean = np.mean(ratios, axis=0)
    assert np.all((mean > 0.6) & (mean < 1.6)), mean
    assert covered >= 4
    ref = evaluation.Reference("t", False, draw_builtin("moons", 200, 100))
    bad = evaluation.report(draw_builtin("moons", 2000, 0) + 1.0, ref, 2000, 0)
    assert bad["energy_distance"]["ratio"] > 5
    assert bad["excess_energy"]["low"] > 0
    assert bad["c2st"]["accuracy"] > 0.7


def test_table_scores_are_in_standardised_units():
    """Scaling one column by 1000 changes nothing: no column's unit dominates."""
    ref_pts = draw_builtin("moons", 200, 1)
    samples = draw_builtin("moons", 1000, 2)
    stretch = np.array([1000.0, 1.0], np.float32)
    a = evaluation.report(samples, evaluation.Reference("t", False, ref_pts), 1000, 0)
    b = evaluation.report(samples * stretch, evaluation.Reference("t", False, ref_pts * stretch),
                          1000, 0)
    for key in ("energy_distance", "mmd", "sliced_w2"):
        assert a[key]["ratio"] == pytest.approx(b[key]["ratio"], rel=1e-3)


def test_few_reference_rows_give_a_warning():
    ref = evaluation.Reference("t", False, draw_builtin("moons", 40, 1))
    result = evaluation.report(draw_builtin("moons", 500, 2), ref, 500, 0)
    assert "too few" in result["warning"] and "40" in result["warning"]
    ref = evaluation.Reference("t", False, draw_builtin("moons", 300, 1))
    assert "warning" not in evaluation.report(draw_builtin("moons", 500, 2), ref, 500, 0)


def test_evaluate_a_table_model_beside_its_gaussian_baseline(runner, tmp_path):
    data = write(tmp_path / "mixed.csv", mixed_units(400))
    assert_ok(invoke(runner, ["train", data, "--out", tmp_path / "run", *TINY]))
    ckpt = tmp_path / "run" / "model.pt"
    result = invoke(runner, ["evaluate", "-c", ckpt, "--json", "-n", 1000])
    assert_ok(result)
    report = json.loads(result.stdout)
    assert report["n_reference"] == 80 and report["units"] == "standardised"
    gaussian, mixture = report["baselines"]["gaussian"], report["baselines"]["mixture"]
    for r in (report, gaussian, mixture):
        e = r["excess_energy"]
        assert e["low"] <= e["value"] <= e["high"]
        assert 0 <= r["c2st"]["accuracy"] <= 1
    assert "too few" in report["warning"]
    text = invoke(runner, ["evaluate", "-c", ckpt, "-n", 500])
    assert_ok(text)
    assert "gaussian" in text.stdout and "mixture" in text.stdout
    assert "classifier" in text.stdout
    # A user's own test split as the reference.
    test = write(tmp_path / "test.csv", mixed_units(150, seed=9))
    own = json.loads(invoke(runner, ["evaluate", "-c", ckpt, "--reference", test, "--json",
                                     "-n", 500]).stdout)
    assert own["n_reference"] == 150 and {"gaussian", "mixture"} <= set(own["baselines"])


def test_mixture_baseline_finds_the_clusters_by_bic():
    rng = np.random.default_rng(0)
    units = np.array([1.0, 1000.0, 0.001])
    two = np.concatenate([rng.normal(0, 1, (300, 3)), rng.normal(6, 0.5, (200, 3))]) * units
    fit = baselines.mixture_fit(two)
    order = fit["weights"].argsort()
    assert torch.allclose(fit["weights"][order], torch.tensor([0.4, 0.6], dtype=torch.float64),
                          atol=0.01)
    assert np.allclose(fit["means"][order].numpy() / units, [[6] * 3, [0] * 3], atol=0.2)
    one = baselines.mixture_fit(rng.normal(0, 1, (500, 4)) @ rng.normal(0, 1, (4, 4)))
    assert len(one["weights"]) == 1
    points = baselines.draw_mixture(*(fit[k].numpy() for k in ("weights", "means", "covs")),
                                    4000, seed=1)
    assert abs((points[:, 0] > 3).mean() - 0.4) < 0.03


def test_mixture_baseline_runs_on_one_thread_and_gives_the_commands_back(monkeypatch):
    seen = []
    real = baselines._em
    monkeypatch.setattr(baselines, "_em", lambda *a: seen.append(torch.get_num_threads())
                        or real(*a))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        baselines.mixture_fit(np.random.default_rng(0).normal(0, 1, (200, 3)))
        assert set(seen) == {1} and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_mixture_baseline_declines_what_it_cannot_fit():
    rng = np.random.default_rng(0)
    assert baselines.mixture_fit(rng.normal(0, 1, (7, 3))) is None  # under 2 (D + 1) rows
    constant = np.column_stack([rng.normal(0, 1, 50), np.ones(50)])
    assert baselines.mixture_fit(constant) is None
    assert baselines.mixture_fit(rng.normal(0, 1, (200, baselines.MAX_MIXTURE_DIM + 1))) is None
    assert set(baselines.fit_baselines(constant)) == {"gaussian"}


@pytest.mark.parametrize("damage", ["nan", "weights", "missing"])
def test_a_damaged_mixture_baseline_is_refused_in_one_line(runner, tmp_path, damage):
    data = write(tmp_path / "mixed.csv", mixed_units(200))
    assert_ok(invoke(runner, ["train", data, "--out", tmp_path / "run", *TINY]))
    payload = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    mixture = payload["baseline"]["mixture"]
    if damage == "nan":
        mixture["covs"][0, 0, 0] = float("nan")
    elif damage == "weights":
        mixture["weights"] = mixture["weights"] * 2
    else:
        del mixture["means"]
    torch.save(payload, tmp_path / "damaged.pt")
    result = invoke(runner, ["evaluate", "-c", tmp_path / "damaged.pt", "-n", 200])
    assert result.exit_code == 2
    (line,) = stderr_lines(result)
    assert "damaged mixture baseline" in line


def test_evaluate_plot_of_many_columns_is_a_pairs_plot(runner, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 6)) * np.arange(1, 7)
    data = write(tmp_path / "six.csv", x, header="a,b,c,d,e,f")
    assert_ok(invoke(runner, ["train", data, "--out", tmp_path / "run", *TINY]))
    png = tmp_path / "pairs.png"
    assert_ok(invoke(runner, ["evaluate", "-c", tmp_path / "run" / "model.pt", "--plot", png,
                              "-n", 300]))
    import imageio.v3 as iio

    image = iio.imread(png)
    assert image.shape[0] > 600 and image.shape[1] > 600  # a 4 x 4 grid, not one scatter


@pytest.mark.parametrize("limits, equal", [
    (((0, 50), (0, 10)), False),  # a bill in dollars against a tip: each axis its own scale
    (((-4, 4), (-3, 3)), True),   # a 2-D set in one unit: its geometry kept
])
def test_a_picture_of_two_columns_keeps_one_scale_only_for_one_unit(limits, equal):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from alternators_cli.plots import _style

    fig, ax = plt.subplots()
    _style(ax, *limits, ["a", "b"])
    assert (ax.get_aspect() == 1.0) is equal
    plt.close(fig)


def test_more_threads_only_where_they_are_measured_clearly_faster():
    from alternators_cli.trainer import faster_threads

    assert faster_threads({1: 1.0, 2: 0.6}) == 2
    assert faster_threads({1: 1.0, 2: 0.9}) == 1  # 11 % faster: the core is left free
    assert faster_threads({1: 0.7, 2: 0.8}) == 1  # a host whose two threads are slower
    assert faster_threads({4: 1.0}) == 4


def test_an_epoch_at_half_the_best_rate_measures_the_threads_again(monkeypatch):
    builtin = TrainingData("pinwheel", 2, ["x0", "x1"], True)
    trainer = Trainer(DistributionSettings(epochs=1, hidden=8, steps=2), builtin,
                      torch.device("cpu"))
    asked = []
    monkeypatch.setattr(trainer, "measured_threads", lambda n: asked.append(n) or 1)
    before = torch.get_num_threads()
    try:
        trainer.fix_threads(2)  # chosen by --threads or by a benchmark: never re-measured
        trainer._watch_rate(100.0)
        trainer._watch_rate(10.0)
        assert asked == []
        trainer.thread_timings = {1: 0.03, 2: 0.02}  # as a measured choice of two leaves it
        for rate in (80.0, 100.0, 60.0):  # slower, but not half the best
            trainer._watch_rate(rate)
        assert asked == [] and trainer.threads() == 2
        trainer._watch_rate(50.0)  # a process arrived: half the best rate
        assert asked == [2] and trainer.threads() == 1 and torch.get_num_threads() == 1
        trainer._watch_rate(5.0)  # on one thread there is nothing left to choose
        assert asked == [2]
    finally:
        torch.set_num_threads(before)


def test_measuring_the_threads_changes_nothing_the_run_learns():
    builtin = TrainingData("pinwheel", 2, ["x0", "x1"], True)
    settings = {"epochs": 1, "epoch_size": 1200, "batch_size": 400, "hidden": 8, "steps": 3}
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        measured = Trainer(DistributionSettings(**settings), builtin, torch.device("cpu"))
        chosen = measured.threads()
        assert torch.get_num_threads() == 2 and chosen in (1, 2)
        assert set(measured.thread_timings) == {1, 2}
        measured.run()
        fixed = Trainer(DistributionSettings(**settings, threads=1), builtin,
                        torch.device("cpu"))
        assert fixed.threads() == 1 and fixed.thread_timings == {}
        fixed.run()
    finally:
        torch.set_num_threads(before)
    for a, b in zip(measured.model.parameters(), fixed.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_small_batches_train_on_one_thread_and_restore_the_count():
    before = torch.get_num_threads()
    data = TrainingData("t", 3, ["a", "b", "c"], False, mixed_units(142))
    seen = []
    trainer = Trainer(DistributionSettings(epochs=1, hidden=8, steps=2), data, torch.device("cpu"))
    assert trainer.threads() == 1
    trainer.run(lambda report: seen.append(torch.get_num_threads()))
    assert seen == [1] and torch.get_num_threads() == before
    forced = Trainer(DistributionSettings(epochs=1, hidden=8, steps=2, threads=2), data,
                     torch.device("cpu"))
    assert forced.threads() == 2
    builtin = TrainingData("pinwheel", 2, ["x0", "x1"], True)
    assert Trainer(DistributionSettings(epochs=1, hidden=8, steps=2), builtin,
                   torch.device("cpu")).threads() == torch.get_num_threads()


def test_header_cells_with_commas_and_line_breaks_round_trip(runner, tmp_path):
    from alternators_cli.data import parse_csv

    rows = "\n".join(f"{x:.3f},{y:.3f}" for x, y in mixed_units(200)[:, :2] * [100, 0.01])
    path = tmp_path / "odd.csv"
    path.write_text('"mass\nkg","ratio, %"\n' + rows + "\n")
    assert_ok(invoke(runner, ["train", path, "--out", tmp_path / "run", *TINY]))
    out = invoke(runner, ["sample", "-c", tmp_path / "run" / "model.pt", "-n", 5]).stdout
    assert parse_csv(out, "samples").columns == ["mass\nkg", "ratio, %"]


def test_a_table_larger_than_an_epoch_trains_on_a_fresh_subset_each_epoch():
    """A table with more rows than --epoch-size gets epochs of that many rows (a fresh
    random subset each epoch, the same on a rerun), so its training costs what a built-in
    set's does; a smaller one is still one pass over every row."""
    rows = mixed_units(1000)
    data = TrainingData("t", 3, ["a", "b", "c"], False, rows)
    settings = DistributionSettings(epochs=2, hidden=8, steps=2, epoch_size=300)
    trainer = Trainer(settings, data, torch.device("cpu"))
    assert trainer.batches_per_epoch() == -(-300 // trainer.batch_size())

    every_row = {r.tobytes() for r in trainer.normalizer.encode(data.train)}

    def seen(t: Trainer, epoch: int) -> set[bytes]:
        points = np.concatenate([b.numpy() for b in t.batches(epoch)])
        rows = {r.tobytes() for r in points}
        assert len(points) == 300 and len(rows) == 300 and rows <= every_row  # distinct rows
        return rows

    first, second = seen(trainer, 0), seen(trainer, 1)
    assert first != second  # a fresh subset each epoch
    again = Trainer(settings, data, torch.device("cpu"))
    assert seen(again, 0) == first  # seeded by (seed, epoch)
    whole = Trainer(DistributionSettings(epochs=1, hidden=8, steps=2), data,
                    torch.device("cpu"))
    assert sum(len(b) for b in whole.batches(0)) == len(data.train)


def test_only_the_process_that_writes_the_checkpoint_fits_the_baselines():
    rows = np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32)
    data = TrainingData("t", 3, ["a", "b", "c"], False, train=rows)
    settings = DistributionSettings(epochs=1, hidden=8, device="cpu")
    writer = Trainer(settings, data, torch.device("cpu"), rank=0)
    other = Trainer(settings.model_copy(), data, torch.device("cpu"), rank=1)
    assert set(writer.baseline) >= {"gaussian", "mixture"}
    assert other.baseline is None


def test_a_narrow_files_table_gets_fewer_steps_unless_they_are_given(runner, tmp_path):
    """The measured default (docs/ablations.md, "Steps of a table"): 8 steps for a file's
    table of at most 32 columns, 15 for a wider one and for a built-in set; a given
    --steps is kept, and the checkpoint holds the steps it was built with."""
    cpu = torch.device("cpu")
    narrow = TrainingData("t", 3, ["a", "b", "c"], False, mixed_units(120))
    assert Trainer(DistributionSettings(hidden=8), narrow, cpu).model.steps == 8
    assert Trainer(DistributionSettings(hidden=8, steps=3), narrow, cpu).model.steps == 3
    wide_rows = np.random.default_rng(0).normal(size=(120, 33)).astype(np.float32)
    wide = TrainingData("w", 33, [f"c{i}" for i in range(33)], False, wide_rows)
    assert Trainer(DistributionSettings(hidden=8), wide, cpu).model.steps == 15
    builtin = TrainingData("pinwheel", 2, ["x0", "x1"], True)
    assert Trainer(DistributionSettings(hidden=8), builtin, cpu).model.steps == 15
    csv = write(tmp_path / "mixed.csv", mixed_units(200))
    tiny = ["--epochs", "1", "--hidden", "8", "--device", "cpu"]
    assert_ok(invoke(runner, ["train", csv, "--out", tmp_path / "run", *tiny]))
    payload = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    assert payload["settings"]["steps"] == 8
    assert_ok(invoke(runner, ["sample", "-c", tmp_path / "run" / "model.pt", "-n", 5]))
