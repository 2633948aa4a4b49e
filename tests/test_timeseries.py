"""Time series as forecasters keep them: a header naming the channels (in any order), a
column of dates, a hundred-odd points; quantile columns, JSON, pictures, and the
rolling-origin backtest of `evaluate`. One tiny model trained once for the module, end to
end through the CLI, on a 100-point daily CSV."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from helpers import assert_ok, assert_one_line_error, invoke, read_csv_body
from typer.testing import CliRunner

from alternators_cli.errors import BadInput
from alternators_cli.series_files import read_series
from alternators_cli.timeindex import infer_frequency, parse_times

CHANNELS = ["sales", "visits"]
POINTS = 100
TINY = ["--epochs", "1", "--epoch-size", "32", "--batch-size", "32", "--hidden", "16",
        "--latent-dim", "4", "--seed", "0", "--device", "cpu"]


def series_values(rows: int, seed: int = 0) -> np.ndarray:
    """Two noisy weekly-periodic channels on different scales, (rows, 2)."""
    t = np.arange(rows)
    rng = np.random.default_rng(seed)
    sales = 100 + 20 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 2, rows)
    visits = 1000 + 300 * np.cos(2 * np.pi * t / 7) + rng.normal(0, 20, rows)
    return np.stack([sales, visits], axis=1)


def days(rows: int, first: str = "2024-01-01") -> list[str]:
    return [str(d) for d in np.datetime64(first) + np.arange(rows)]


def write_dated(path: Path, times: list[str] | None, values: np.ndarray,
                columns: list[str], time_name: str = "date") -> Path:
    header = ([time_name] if times is not None else []) + columns
    lines = [",".join(header)]
    for i, row in enumerate(values):
        cells = ["" if math.isnan(v) else f"{v:.6g}" for v in row]
        lines.append(",".join(([times[i]] if times is not None else []) + cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def dated_table(text: str) -> tuple[list[str], list[str], np.ndarray]:
    """CSV with a leading time column: (header, times, numbers)."""
    lines = text.strip().splitlines()
    rows = [ln.split(",") for ln in lines[1:]]
    return (lines[0].split(","), [r[0] for r in rows],
            np.array([[float(c) for c in r[1:]] for r in rows]))


def _clear_alternators_env(mp: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.upper().startswith("ALTERNATORS_"):
            mp.delenv(key)


@pytest.fixture(scope="module")
def dated_run(tmp_path_factory):
    """`alternators train daily.csv --json` on 100 dated points, default window."""
    root = tmp_path_factory.mktemp("dated")
    csv = write_dated(root / "daily.csv", days(POINTS), series_values(POINTS), CHANNELS)
    out = root / "run"
    with pytest.MonkeyPatch.context() as mp:
        _clear_alternators_env(mp)
        result = invoke(CliRunner(), ["train", csv, "--kind", "sequence", "--out", out,
                                      "--json", *TINY])
    assert_ok(result)
    return {"csv": csv, "ckpt": out / "model.pt", "dir": out, "result": result}


# ---- times: parsing, frequency, future times ----------------------------------------------


@pytest.mark.parametrize(("cells", "name", "future"), [
    (["2024-01-30", "2024-01-31", "2024-02-01"], "daily", ["2024-02-02", "2024-02-03"]),
    (["2024-01-01", "2024-01-08", "2024-01-15"], "weekly", ["2024-01-22", "2024-01-29"]),
    (["1960-10", "1960-11", "1960-12"], "monthly", ["1961-01", "1961-02"]),
    (["1960-10-01", "1960-11-01", "1960-12-01"], "monthly", ["1961-01-01", "1961-02-01"]),
    (["2024-01-31", "2024-02-29", "2024-03-31"], "monthly", ["2024-04-30", "2024-05-31"]),
    (["2023-07-01", "2023-10-01", "2024-01-01"], "quarterly", ["2024-04-01", "2024-07-01"]),
    (["2021-01-01", "2022-01-01", "2023-01-01"], "yearly", ["2024-01-01", "2025-01-01"]),
    (["2024-01-01T22:00", "2024-01-01T23:00", "2024-01-02T00:00"], "hourly",
     ["2024-01-02T01:00", "2024-01-02T02:00"]),
    (["2024-01-01T00:00:00", "2024-01-01T00:00:15", "2024-01-01T00:00:30"],
     "every 15 seconds", ["2024-01-01T00:00:45", "2024-01-01T00:01:00"]),
])
def test_frequency_and_future_times(cells, name, future):
    from alternators_cli.timeindex import TimeIndex

    times = parse_times(cells, "date", "f.csv", 2)
    freq = infer_frequency(times)
    assert freq is not None and freq.name == name
    assert TimeIndex("date", times, freq).format(TimeIndex("date", times, freq).future(2)) \
        == future


def test_irregular_times_have_no_frequency_and_refuse_a_forecast(tmp_path):
    from alternators_cli.timeindex import TimeIndex

    times = parse_times(["2024-01-01", "2024-01-02", "2024-01-09", "2024-01-10"], "d", "x", 2)
    assert infer_frequency(times) is None
    with pytest.raises(BadInput, match="irregular"):
        TimeIndex("d", times, None).future(3)


def test_read_series_dated_csv_carries_times_not_a_channel(tmp_path):
    path = write_dated(tmp_path / "d.csv", days(5), series_values(5), CHANNELS)
    series = read_series(str(path))
    assert series.columns == CHANNELS and series.has_header
    assert series.values.shape == (1, 5, 2)
    assert series.time.name == "date" and series.time.frequency.name == "daily"
    assert series.time.format() == days(5)


def test_missing_times_of_a_regular_series_become_empty_rows(tmp_path):
    times = days(10)
    del times[4:6]  # two days missing
    values = series_values(8)
    path = write_dated(tmp_path / "gaps.csv", times, values, CHANNELS)
    series = read_series(str(path))
    assert series.values.shape == (1, 10, 2)
    assert np.isnan(series.values[0, 4:6]).all()
    np.testing.assert_allclose(series.values[0, 6:], values[4:], rtol=1e-5)
    assert series.time.format() == days(10)
    assert any("2 missing daily time(s)" in note for note in series.notes)


def test_time_column_by_name_reads_plain_years(tmp_path):
    path = tmp_path / "years.csv"
    path.write_text("year,count\n1700,5\n1701,11\n1702,16\n")
    series = read_series(str(path), time_column="year")
    assert series.columns == ["count"] and series.time.frequency.name == "yearly"
    assert series.time.format(series.time.future(1)) == ["1703"]
    found = read_series(str(path))  # not named, but called year and rising by one
    assert found.columns == ["count"] and found.time.name == "year"
    path.write_text("year,count\n1700,5\n1702,11\n1703,16\n")
    assert read_series(str(path)).columns == ["year", "count"]  # not consecutive: a value
    path.write_text("Period,count\n1821,5\n1822,11\n1823,16\n")  # a yearly period index
    assert read_series(str(path)).time.format()[:1] == ["1821"]
    path.write_text("when,count\n1700,5\n1701,11\n1702,16\n")
    assert read_series(str(path)).columns == ["when", "count"]  # another name: a value
    path.write_text("year,count\n1,5\n2,11\n3,16\n")
    assert read_series(str(path)).columns == ["year", "count"]  # a step counter: a value


# ---- a 100-point dated series end to end ----------------------------------------------------


def test_train_on_a_short_dated_csv_evaluates_with_a_backtest(dated_run):
    result = dated_run["result"]
    report = json.loads(result.stdout)  # --json: the evaluation on stdout
    fc = report["forecast"]
    assert fc["method"] == "rolling origin" and fc["origins"] >= 2
    assert fc["first_origin"] == 90 and fc["horizon"] == 5  # 10 held-out steps
    assert math.isfinite(fc["crps"]) and math.isfinite(fc["persistence_crps"])
    assert len(report["imputation"]) >= 3
    settings = json.loads((dated_run["dir"] / "settings.json").read_text())
    assert settings["window"] == 22  # 90 training steps: a quarter of them
    assert "--window 22" in result.stderr and "(daily)" in result.stderr
    info = json.loads(invoke(CliRunner(), ["info", "-c", dated_run["ckpt"], "--json"]).stdout)
    assert info["data"]["columns"] == CHANNELS  # the date is not a channel


def test_evaluate_prints_progress_on_stderr_and_plots_the_backtest(runner, dated_run,
                                                                   tmp_path):
    png = tmp_path / "backtest.png"
    result = invoke(runner, ["evaluate", "-c", dated_run["ckpt"], "--json", "--plot", png])
    assert_ok(result)
    assert json.loads(result.stdout)["forecast"]["method"] == "rolling origin"
    assert "evaluating: backtest" in result.stderr and "evaluating: imputation" in result.stderr
    _assert_png(png)


def test_a_checkpoint_without_the_history_backtests_its_heldout_part_alone(
    runner, dated_run, tmp_path
):
    # Files from before `heldout_history`: the first steps of the held-out part are history.
    import torch

    from alternators_cli import checkpoint

    payload = torch.load(dated_run["ckpt"], weights_only=True)
    assert payload["heldout_history"].shape == (1, 90, 2)  # every training step, here
    del payload["heldout_history"]
    old = tmp_path / "old.pt"
    with open(old, "wb") as f:
        checkpoint.save(payload, f)
    result = invoke(runner, ["evaluate", "-c", old, "--json"])
    assert_ok(result)
    fc = json.loads(result.stdout)["forecast"]
    assert fc["first_origin"] == 5 and fc["horizon"] == 2  # 10 held-out steps: 5 + 5


def test_evaluate_input_backtests_a_dated_file(runner, dated_run, tmp_path):
    csv = write_dated(tmp_path / "new.csv", days(60, "2024-06-01"), series_values(60, 3),
                      CHANNELS)
    result = invoke(runner, ["evaluate", "-c", dated_run["ckpt"], "--input", csv, "--json"])
    assert_ok(result)
    fc = json.loads(result.stdout)["forecast"]
    assert fc["first_origin"] == 22 and fc["horizon"] == 19  # (60 - 22) // 2


# ---- by name --------------------------------------------------------------------------------


def test_reordered_header_is_matched_by_name(runner, dated_run, tmp_path):
    values = series_values(30, seed=1)
    straight = write_dated(tmp_path / "a.csv", days(30), values, CHANNELS)
    swapped = write_dated(tmp_path / "b.csv", days(30), values[:, ::-1], CHANNELS[::-1])
    args = ["forecast", "-c", dated_run["ckpt"], "-H", 3, "-n", 20, "--input"]
    a = invoke(runner, [*args, straight])
    b = invoke(runner, [*args, swapped])
    assert_ok(a)
    assert_ok(b)
    ha, ta, va = dated_table(a.stdout)
    hb, tb, vb = dated_table(b.stdout)
    assert ta == tb == days(3, "2024-01-31")
    assert ha == ["date", "sales", "sales_lower", "sales_upper", "visits", "visits_lower",
                  "visits_upper"]
    assert hb == ["date", "visits", "visits_lower", "visits_upper", "sales", "sales_lower",
                  "sales_upper"]
    np.testing.assert_allclose(vb, np.hstack([va[:, 3:], va[:, :3]]), rtol=1e-6)
    assert 500 < va[:, 3].mean() < 1500 and 50 < va[:, 0].mean() < 150  # each its own scale


def test_headerless_input_keeps_positional_meaning(runner, dated_run, tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("\n".join(f"{a:.5g},{b:.5g}" for a, b in series_values(30, 1)) + "\n")
    result = invoke(runner, ["forecast", "-c", dated_run["ckpt"], "-H", 2, "-n", 10,
                             "--input", path])
    assert_ok(result)
    header, body = read_csv_body(result.stdout)
    assert header[:2] == ["step", "sales"] and body[:, 0].tolist() == [1, 2]
    assert 500 < body[:, 4].mean() < 1500  # the second column is read as visits


# ---- quantiles and JSON: one layout for impute and forecast --------------------------------


def _gappy(tmp_path: Path, rows: int = 30, times: list[str] | None = None) -> Path:
    values = series_values(rows, seed=2)
    values[5:8, 0] = np.nan
    values[12, :] = np.nan
    return write_dated(tmp_path / "gappy.csv", times or days(rows), values, CHANNELS)


QUANTILE_HEADER = ["sales", "sales_q0.05", "sales_q0.5", "sales_q0.95",
                   "visits", "visits_q0.05", "visits_q0.5", "visits_q0.95"]


def test_quantile_columns_share_one_layout(runner, dated_run, tmp_path):
    gappy = _gappy(tmp_path)
    common = ["-c", dated_run["ckpt"], "--input", gappy, "--quantiles", "0.95,0.05,0.5",
              "-n", 20]
    imp = invoke(runner, ["impute", *common])
    fc = invoke(runner, ["forecast", *common, "-H", 3])
    assert_ok(imp)
    assert_ok(fc)
    imp_lines, fc_lines = imp.stdout.splitlines(), fc.stdout.splitlines()
    assert imp_lines[0].split(",") == ["date", *QUANTILE_HEADER]
    assert fc_lines[0].split(",") == ["date", *QUANTILE_HEADER]
    assert [ln.split(",")[0] for ln in imp_lines[1:]] == days(30)  # rows keep their times
    assert [ln.split(",")[0] for ln in fc_lines[1:]] == days(3, "2024-01-31")
    for lines, rows in ((imp_lines, 30), (fc_lines, 3)):
        body = np.array([[float(c) for c in ln.split(",")[1:]] for ln in lines[1:]])
        assert body.shape == (rows, 8)
        for c in (0, 4):
            assert (body[:, c + 1] <= body[:, c + 2]).all()
            assert (body[:, c + 2] <= body[:, c + 3]).all()
    body = np.array([[float(c) for c in ln.split(",")[1:]] for ln in imp_lines[1:]])
    observed = series_values(30, seed=2)
    keep = np.ones(30, bool)
    keep[[5, 6, 7, 12]] = False
    np.testing.assert_allclose(body[keep, 0], observed[keep, 0], rtol=1e-5)
    np.testing.assert_array_equal(body[keep, 1], body[keep, 0])  # observed: every quantile
    assert (body[[5, 6, 7], 3] > body[[5, 6, 7], 1]).all()  # a real spread at the gaps


@pytest.mark.parametrize("command", ["impute", "forecast"])
def test_json_has_the_numbers_of_the_csv(runner, dated_run, tmp_path, command):
    args = [command, "-c", dated_run["ckpt"], "--input", _gappy(tmp_path), "-n", 10,
            "--quantiles", "0.1,0.9", *(["-H", 4] if command == "forecast" else [])]
    csv = invoke(runner, args)
    doc = invoke(runner, [*args, "--json"])
    assert_ok(csv)
    assert_ok(doc)
    report = json.loads(doc.stdout)
    lines = csv.stdout.splitlines()
    assert report["columns"] == lines[0].split(",")
    assert report["command"] == command and report["quantiles"] == [0.1, 0.9]
    assert report["time_column"] == "date" and report["frequency"] == "daily"
    assert len(report["rows"]) == len(lines) - 1
    for line, row in zip(lines[1:], report["rows"], strict=True):
        cells = line.split(",")
        assert row["date"] == cells[0]
        assert [row[c] for c in report["columns"][1:]] == [float(c) for c in cells[1:]]


def test_band_keeps_its_columns_with_dates(runner, dated_run, tmp_path):
    result = invoke(runner, ["impute", "-c", dated_run["ckpt"], "--input", _gappy(tmp_path),
                             "--band", 0.8, "-n", 10])
    assert_ok(result)
    assert result.stdout.splitlines()[0].split(",") == [
        "date", "sales", "visits", "sales_lower", "visits_lower", "sales_upper", "visits_upper"]


def test_monthly_dates_get_monthly_future_times(runner, dated_run, tmp_path):
    months = [str(m) + "-01" for m in np.datetime64("1958-01") + np.arange(36)]
    csv = write_dated(tmp_path / "monthly.csv", months, series_values(36), CHANNELS, "month")
    result = invoke(runner, ["forecast", "-c", dated_run["ckpt"], "--input", csv, "-H", 14,
                             "-n", 10, "--quantiles", "0.5"])
    assert_ok(result)
    lines = result.stdout.splitlines()
    assert lines[0] == "month,sales,sales_q0.5,visits,visits_q0.5"
    assert [ln.split(",")[0] for ln in lines[1:]] == (
        [f"1961-{m:02d}-01" for m in range(1, 13)] + ["1962-01-01", "1962-02-01"])


# ---- pictures -------------------------------------------------------------------------------


def _assert_png(path: Path) -> None:
    image = iio.imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 400
    assert image.reshape(-1, image.shape[-1]).std(axis=0).max() > 10  # something drawn


def test_forecast_and_impute_plots(runner, dated_run, tmp_path):
    gappy = _gappy(tmp_path)
    fan, filled = tmp_path / "fan.png", tmp_path / "filled.png"
    fc = invoke(runner, ["forecast", "-c", dated_run["ckpt"], "--input", gappy, "-H", 6,
                         "-n", 20, "--plot", fan, "-o", tmp_path / "fc.csv"])
    imp = invoke(runner, ["impute", "-c", dated_run["ckpt"], "--input", gappy, "-n", 10,
                          "--plot", filled, "-o", tmp_path / "imp.csv"])
    assert_ok(fc)
    assert_ok(imp)
    _assert_png(fan)
    _assert_png(filled)
    assert (tmp_path / "fc.csv").exists() and (tmp_path / "imp.csv").exists()


# ---- bad inputs: one line, exit 2 -----------------------------------------------------------


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    values = series_values(12)
    bad_date = days(12)
    bad_date[3] = "2024-13-45"
    twice = days(12)
    twice[5] = twice[4]
    backwards = days(12)[::-1]
    irregular = [str(np.datetime64("2024-01-01") + int(d)) for d in
                 [0, 1, 2, 5, 9, 14, 20, 27, 35, 44, 54, 65]]
    long = tmp_path / "long.csv"
    long.write_text("store,region,date,sales,visits\n" + "".join(
        f"{s},east,{d},1,2\n" for s in "AB" for d in days(6)))
    no_time = tmp_path / "no_time.csv"
    no_time.write_text("store,sales,visits\n" + "".join(f"{s},1,2\n" for s in "AABB"))
    twice_in_one = tmp_path / "twice_in_one.csv"
    twice_in_one.write_text("store,date,sales,visits\n" + "".join(
        f"{s},{d},1,2\n" for s in "AB" for d in [*days(3), days(3)[-1]]))
    return {
        "unparseable_date": write_dated(tmp_path / "bad.csv", bad_date, values, CHANNELS),
        "duplicated_time": write_dated(tmp_path / "twice.csv", twice, values, CHANNELS),
        "backwards": write_dated(tmp_path / "back.csv", backwards, values, CHANNELS),
        "unknown_channel": write_dated(tmp_path / "unknown.csv", days(12),
                                       np.hstack([values, values[:, :1]]),
                                       [*CHANNELS, "promo"]),
        "missing_channel": write_dated(tmp_path / "missing.csv", days(12), values[:, :1],
                                       ["sales"]),
        "irregular": write_dated(tmp_path / "irregular.csv", irregular, values, CHANNELS),
        "long_format_two_text_columns": long,
        "long_format_without_times": no_time,
        "long_format_id_without_times": no_time,
        "long_format_duplicated_time": twice_in_one,
    }


BAD = {
    "unparseable_date": (["impute"], "'2024-13-45' is not a date"),
    "duplicated_time": (["forecast", "-H", "2"], "appears twice"),
    "backwards": (["impute"], "sort the rows by time"),
    "unknown_channel": (["forecast", "-H", "2"], "unknown channel(s) 'promo'"),
    "missing_channel": (["impute"], "missing channel(s) 'visits'"),
    "irregular": (["forecast", "-H", "2"], "irregular"),
    "long_format_two_text_columns": (["impute"], "'store', 'region' hold text"),
    "long_format_without_times": (["impute"], "needs a time column beside it"),
    "long_format_id_without_times": (["impute", "--id-column", "store"],
                                     "need a time column"),
    "long_format_duplicated_time": (["impute"], "appears twice in column 'date' (data rows "
                                                "4 and 5) (series 'A')"),
    "unknown_id_column": (["impute", "--id-column", "shop"], "no such column"),
    "unknown_time_column": (["impute", "--time-column", "when"], "no such column"),
    "band_and_quantiles": (["impute", "--band", "0.9", "--quantiles", "0.1,0.9"],
                           "not both"),
    "quantile_out_of_range": (["forecast", "-H", "2", "--quantiles", "0.5,1.5"],
                              "strictly between 0 and 1"),
    "plot_not_png": (["forecast", "-H", "2", "--plot", "{tmp}/fan.jpg"], ".png"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_time_series_input_is_one_line_exit_2(runner, dated_run, tmp_path, case):
    files = _bad_files(tmp_path)
    args, fragment = BAD[case]
    path = files.get(case, dated_run["csv"])
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = invoke(runner, [args[0], "-c", dated_run["ckpt"], "--input", path, *args[1:]])
    assert fragment in assert_one_line_error(result, 2)
    assert not (tmp_path / "fan.jpg").exists()


def test_training_on_a_file_with_duplicated_times_is_refused(runner, tmp_path):
    path = _bad_files(tmp_path)["duplicated_time"]
    result = invoke(runner, ["train", path, "--kind", "sequence", "--out", tmp_path / "r",
                             *TINY])
    assert "appears twice" in assert_one_line_error(result, 2)
    assert not (tmp_path / "r").exists()


def test_a_refused_train_on_a_dated_csv_says_one_line(runner, dated_run, tmp_path):
    # The notes about the data (time column, shorter window) come once training starts.
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    result = invoke(runner, ["train", dated_run["csv"], "--kind", "sequence", "--out", busy,
                             *TINY])
    assert "not empty" in assert_one_line_error(result, 2)
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]


def test_headerless_dated_csv(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("".join(f"{d},{i},{2 * i}\n" for i, d in enumerate(days(4))))
    series = read_series(str(path))
    assert not series.has_header and series.columns == ["x0", "x1"]
    assert series.time.frequency.name == "daily"
    np.testing.assert_array_equal(series.values[0, :, 1], [0, 2, 4, 6])


# ---- several series in one file (long format) -----------------------------------------------


def _long_csv(tmp_path: Path) -> Path:
    values = {"north": series_values(30, 4), "south": series_values(25, 5)}
    values["south"][3, 0] = np.nan
    lines = ["store,date,sales,visits"]
    for name, first in (("north", "2024-01-01"), ("south", "2024-01-06")):
        lines += [f"{name},{d},{a:.6g}," + ("" if math.isnan(b) else f"{b:.6g}")
                  for d, (a, b) in zip(days(len(values[name]), first), values[name][:, ::-1],
                                       strict=True)]
    path = tmp_path / "stores.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_long_format_series_are_read_on_one_grid(tmp_path):
    series = read_series(str(_long_csv(tmp_path)))
    assert series.ids == ["north", "south"] and series.id_name == "store"
    assert series.columns == CHANNELS and series.values.shape == (2, 30, 2)
    assert series.spans == [(0, 30), (5, 30)]
    assert np.isnan(series.values[1, :5]).all()  # south has no rows before 2024-01-06
    assert series.time.format()[:2] == ["2024-01-01", "2024-01-02"]


def test_long_format_impute_and_forecast_label_rows_by_series_and_time(runner, dated_run,
                                                                      tmp_path):
    path = _long_csv(tmp_path)
    imp = invoke(runner, ["impute", "-c", dated_run["ckpt"], "--input", path, "-n", 5,
                          "--json"])
    fc = invoke(runner, ["forecast", "-c", dated_run["ckpt"], "--input", path, "-H", 2,
                         "-n", 5, "--quantiles", "0.5"])
    assert_ok(imp)
    assert_ok(fc)
    report = json.loads(imp.stdout)
    assert report["id_column"] == "store" and report["series"] == ["north", "south"]
    rows = report["rows"]
    assert len(rows) == 55 and report["missing_cells"] == 1  # each series' own rows
    assert [r["date"] for r in rows if r["store"] == "south"] == days(25, "2024-01-06")
    assert all(r["sales"] is not None for r in rows)
    assert "filled 1 missing cell(s)" in imp.stderr
    lines = fc.stdout.splitlines()
    assert lines[0] == "store,date,sales,sales_q0.5,visits,visits_q0.5"
    assert [ln.split(",")[:2] for ln in lines[1:]] == [
        ["north", "2024-01-31"], ["north", "2024-02-01"],
        ["south", "2024-01-31"], ["south", "2024-02-01"]]
