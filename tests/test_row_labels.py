"""Files as pandas and R write them: a row index beside the data (an unnamed first column)
is read as row labels, never as a column to model; a series' time column named at `train`
stays the model's for forecast and impute."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_ok, assert_one_line_error, invoke, read_csv_body, stderr_lines

from alternators_cli.data import read_table
from alternators_cli.series_files import read_series

TINY_TABLE = ["--epochs", "2", "--hidden", "16", "--steps", "2", "--latent-dim", "4",
              "--seed", "0", "--device", "cpu"]
TINY_SERIES = ["--kind", "sequence", "--epochs", "1", "--epoch-size", "32", "--batch-size",
               "32", "--hidden", "16", "--latent-dim", "4", "--seed", "0", "--device", "cpu"]


def write(path, header: str, rows: list[str]):
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def table_rows(n: int, labels) -> list[str]:
    rng = np.random.default_rng(0)
    return [f"{labels(i)},{rng.normal(50, 10):.3f},{rng.gamma(2.0):.3f}" for i in range(n)]


@pytest.mark.parametrize("header, labels", [
    (",bill,tip", lambda i: str(i)),                        # pandas' to_csv, RangeIndex
    (",bill,tip", lambda i: str((i * 37) % 101 + 5)),       # pandas, a shuffled split's index
    ("Unnamed: 0,bill,tip", lambda i: str(i)),              # pandas, read and written again
    ('"",bill,tip', lambda i: f'"car {i}"'),                # R's write.csv with row names
])
def test_a_row_index_is_not_a_column(tmp_path, header, labels):
    table = read_table(str(write(tmp_path / "t.csv", header, table_rows(60, labels))))
    assert table.columns == ["bill", "tip"] and table.values.shape == (60, 2)
    assert 40 < table.values[:, 0].mean() < 60  # the data, not the labels
    assert any("row labels" in note for note in table.notes)


@pytest.mark.parametrize("header, labels", [
    (",bill,tip", lambda i: f"{i + 0.5}"),      # fractional numbers: data under no name
    (",bill,tip", lambda i: str(i % 7)),        # repeated values: not a row index
    ("id,bill,tip", lambda i: str(i)),          # a named column is the user's to keep
])
def test_other_first_columns_stay_data(tmp_path, header, labels):
    table = read_table(str(write(tmp_path / "t.csv", header, table_rows(60, labels))))
    assert table.values.shape == (60, 3) and not table.notes


def test_train_on_a_pandas_csv_models_and_samples_the_data_columns(runner, tmp_path):
    csv = write(tmp_path / "tips.csv", ",bill,tip", table_rows(150, str))
    result = invoke(runner, ["train", csv, "--out", tmp_path / "run", *TINY_TABLE])
    assert_ok(result)
    assert any("row labels" in line for line in stderr_lines(result))
    sampled = invoke(runner, ["sample", "-c", tmp_path / "run" / "model.pt", "-n", "5"])
    assert_ok(sampled)
    header, body = read_csv_body(sampled.stdout)
    assert header == ["bill", "tip"] and body.shape == (5, 2)


def test_a_series_index_beside_its_dates_is_neither_time_nor_channel(tmp_path):
    rows = [f"{i},2020-{i + 1:02d}-01,{v}" for i, v in enumerate([1, 2, 3.5, 3])]
    series = read_series(str(write(tmp_path / "s.csv", ",date,value", rows)))
    assert series.columns == ["value"] and series.time.frequency.name == "monthly"
    assert series.values[0, :, 0].tolist() == [1, 2, 3.5, 3]
    assert "row labels" in series.notes[0]
    plain = read_series(str(write(tmp_path / "p.csv", ",value,b",
                                  [f"{i},{i * 2},{i % 3}" for i in range(6)])))
    assert plain.columns == ["value", "b"] and plain.values.shape == (1, 6, 2)


def test_time_column_given_to_train_is_the_models_for_forecast_and_impute(runner, tmp_path):
    t = np.arange(80)
    rows = [f"{i},{1900 + i}.0,{100 + 10 * np.sin(i / 3):.3f}" for i in t]  # statsmodels' years
    csv = write(tmp_path / "nile.csv", ",year,volume", rows)
    out = tmp_path / "run"
    assert_ok(invoke(runner, ["train", csv, "--time-column", "year", "--out", out,
                              *TINY_SERIES]))
    forecast = invoke(runner, ["forecast", "-c", out / "model.pt", "--input", csv, "-H", "2",
                               "-n", "8"])
    assert_ok(forecast)
    lines = forecast.stdout.strip().splitlines()
    assert lines[0].split(",")[:2] == ["year", "volume"]
    assert [ln.split(",")[0] for ln in lines[1:3]] == ["1980", "1981"]
    gappy = write(tmp_path / "gappy.csv", ",year,volume",
                  [r if i != 40 else f"{i},{1900 + i}.0," for i, r in enumerate(rows)])
    filled = invoke(runner, ["impute", "-c", out / "model.pt", "--input", gappy])
    assert_ok(filled)
    assert filled.stdout.splitlines()[41].startswith("1940,")
    assert "," in filled.stdout.splitlines()[41] and filled.stdout.splitlines()[41][-1] != ","


def test_time_column_for_a_table_or_missing_is_one_line_exit_2(runner, tmp_path):
    csv = write(tmp_path / "t.csv", "year,value", [f"{1900 + i},{i % 5}" for i in range(40)])
    line = assert_one_line_error(invoke(runner, ["train", csv, "--time-column", "year",
                                                 "--out", tmp_path / "a"]))
    assert "sequences only" in line
    line = assert_one_line_error(invoke(runner, ["train", csv, "--kind", "sequence",
                                                 "--time-column", "when", "--out",
                                                 tmp_path / "b"]))
    assert "no such column" in line
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
