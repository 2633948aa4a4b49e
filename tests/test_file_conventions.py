"""Files as pandas, R and spreadsheets write them: a row index beside the data (an unnamed
first column) is read as row labels, never as a column to model; semicolons with decimal
commas; quarters as 1959Q1; a series' time column named at `train` stays the model's for
forecast and impute."""

from __future__ import annotations

import json

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


def test_semicolons_with_decimal_commas(tmp_path):
    table = read_table(str(write(tmp_path / "eu.csv", "a;b", ["1,5;2", "-3,25;4", "5;7,0"])))
    assert table.columns == ["a", "b"]
    assert table.values.tolist() == [[1.5, 2.0], [-3.25, 4.0], [5.0, 7.0]]
    headerless = read_table(str(write(tmp_path / "eu2.csv", "1,5;2", ["3,1;4"])))
    assert headerless.values.tolist() == [[1.5, 2.0], [3.1, 4.0]]
    quoted = read_table(str(write(tmp_path / "q.csv", '"a;b",c', ["1,2", "3,4"])))
    assert quoted.columns == ["a;b", "c"] and quoted.values.tolist() == [[1, 2], [3, 4]]
    series = read_series(str(write(tmp_path / "s.csv", "date;temp",
                                   ["2024-01-01;1,5", "2024-01-02;-0,5", "2024-01-03;2"])))
    assert series.columns == ["temp"] and series.values.ravel().tolist() == [1.5, -0.5, 2.0]


def test_quarters_are_times_and_forecasts_are_labelled_by_quarter(runner, tmp_path):
    quarters = [f"{1959 + i // 4}Q{i % 4 + 1}" for i in range(60)]
    rows = [f"{q},{2700 + 10 * i + (i % 4) * 5}" for i, q in enumerate(quarters)]
    csv = write(tmp_path / "gdp.csv", "quarter,gdp", rows)
    series = read_series(str(csv))
    assert series.columns == ["gdp"] and series.time.frequency.name == "quarterly"
    assert series.time.format()[:2] == ["1959Q1", "1959Q2"]
    out = tmp_path / "run"
    assert_ok(invoke(runner, ["train", csv, "--out", out, *TINY_SERIES]))
    forecast = invoke(runner, ["forecast", "-c", out / "model.pt", "--input", csv, "-H", "5",
                               "-n", "8"])
    assert_ok(forecast)
    assert [ln.split(",")[0] for ln in forecast.stdout.splitlines()[1:]] == [
        "1974Q1", "1974Q2", "1974Q3", "1974Q4", "1975Q1"]


def test_times_in_another_format_are_named_as_the_problem(runner, tmp_path):
    csv = write(tmp_path / "us.csv", "date,sales", ["01/31/2024,5", "02/29/2024,6",
                                                    "03/31/2024,7"])
    line = assert_one_line_error(invoke(runner, ["train", csv, "--kind", "sequence",
                                                 "--out", tmp_path / "r"]))
    assert "'date'" in line and "YYYY-MM-DD" in line and "--time-column" in line


def test_a_held_out_stretch_the_baselines_get_exactly_has_no_ratio(runner, tmp_path):
    """Intermittent demand: the held-out end is all zeros, which persistence forecasts and
    interpolation fills exactly; the evaluation says so instead of dividing by zero."""
    rng = np.random.default_rng(0)
    values = np.r_[rng.poisson(3.0, 75).astype(float), np.zeros(45)]  # zeros before it too
    csv = write(tmp_path / "demand.csv", "units", [f"{v:g}" for v in values])
    result = invoke(runner, ["train", csv, "--out", tmp_path / "run", "--heldout", "0.25",
                             "--json", *TINY_SERIES])
    assert_ok(result)
    report = json.loads(result.stdout)
    assert report["forecast"]["persistence_crps"] == 0
    assert report["forecast"]["crps_ratio"] is None
    exact = [r for r in report["imputation"] if r["linear_mae"] == 0]
    assert exact and all(r["mae_ratio"] is None for r in exact)
    shown = invoke(runner, ["evaluate", "-c", tmp_path / "run" / "model.pt"])
    assert_ok(shown)
    assert "–" in shown.stdout


def test_evaluate_reference_columns_are_matched_by_name(runner, tmp_path):
    """A user's test split written with its columns in another order is scored column for
    column, not by position (which scored a faithful model as hopeless); a renamed or
    missing column is refused by name."""
    csv = write(tmp_path / "tips.csv", "bill,tip", [r.split(",", 1)[1]
                                                    for r in table_rows(200, str)])
    out = tmp_path / "run"
    assert_ok(invoke(runner, ["train", csv, "--out", out, *TINY_TABLE]))
    rows = [r.split(",") for r in table_rows(120, str)]
    as_given = write(tmp_path / "ref.csv", "bill,tip", [f"{b},{t}" for _, b, t in rows])
    swapped = write(tmp_path / "swapped.csv", "tip,bill", [f"{t},{b}" for _, b, t in rows])
    reports = []
    for ref in (as_given, swapped):
        result = invoke(runner, ["evaluate", "-c", out / "model.pt", "--reference", ref,
                                 "--json", "-n", "500"])
        assert_ok(result)
        reports.append(json.loads(result.stdout))
    assert reports[0]["energy_distance"] == pytest.approx(reports[1]["energy_distance"])
    sampled = tmp_path / "s.csv"
    assert_ok(invoke(runner, ["sample", "-c", out / "model.pt", "-n", "300", "-o", sampled]))
    by_samples = [json.loads(invoke(runner, ["evaluate", "--samples", sampled, "--reference",
                                             ref, "--json"]).stdout)["energy_distance"]
                  for ref in (as_given, swapped)]
    assert by_samples[0] == pytest.approx(by_samples[1])
    renamed = write(tmp_path / "renamed.csv", "tips,bill", [f"{t},{b}" for _, b, t in rows])
    line = assert_one_line_error(invoke(runner, ["evaluate", "-c", out / "model.pt",
                                                 "--reference", renamed]))
    assert "unknown column(s) 'tips'" in line and "missing column(s) 'tip'" in line


def test_api_evaluate_matches_a_dataframe_reference_by_name(tmp_path):
    pd = pytest.importorskip("pandas")
    import alternators_cli as alt

    rng = np.random.default_rng(0)
    rows = np.c_[rng.normal(50, 10, 300), rng.gamma(2.0, size=300)]
    model = alt.train(rows, columns=["bill", "tip"], epochs=2, hidden=16, steps=2, seed=0)
    frame = pd.DataFrame(rows[:100], columns=["bill", "tip"])
    same = model.evaluate(frame, n=400)["energy_distance"]
    assert model.evaluate(frame[["tip", "bill"]], n=400)["energy_distance"] == same


def test_a_windows_1252_export_is_read_with_its_names(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("température,débit\r\n1,2\r\n3,4\r\n".encode("cp1252"))
    table = read_table(str(path))
    assert table.columns == ["température", "débit"] and table.values.tolist() == [[1, 2],
                                                                                  [3, 4]]


def test_impute_writes_a_pandas_series_back_under_its_own_index(runner, tmp_path):
    """`df.to_csv()` of a series with gaps, imputed in place: the same rows under the same
    index, so `pd.read_csv(path, index_col=0)` reads the file as it was, filled."""
    rows = [f"{i},{'' if 30 <= i < 33 else f'{900 + 100 * np.sin(i / 4):.3f}'}"
            for i in range(80)]
    csv = write(tmp_path / "gappy.csv", ",volume", rows)
    out = tmp_path / "run"
    assert_ok(invoke(runner, ["train", csv, "--out", out, *TINY_SERIES]))
    import alternators_cli as alt

    assert alt.load(out / "model.pt").columns == ["volume"]  # the index is not a channel
    assert_ok(invoke(runner, ["impute", "-c", out / "model.pt", "--input", csv, "-o", csv]))
    lines = csv.read_text().splitlines()
    assert lines[0] == ",volume" and len(lines) == 81
    assert [ln.split(",")[0] for ln in lines[1:]] == [str(i) for i in range(80)]
    assert all(ln.split(",")[1] for ln in lines[1:])  # every cell filled
    assert lines[1].split(",")[1] == rows[0].split(",")[1].rstrip("0").rstrip(".")


@pytest.mark.parametrize("kind", [[], ["--kind", "sequence"]])
def test_repeated_column_names_are_refused_at_train(runner, tmp_path, kind):
    """A model whose outputs carry two columns called `a` could never be given its own
    file back (inputs are matched by name), so training refuses it, naming the column."""
    csv = write(tmp_path / "dup.csv", "a,a,b", [f"{i},{i % 3},{i % 5}" for i in range(40)])
    line = assert_one_line_error(invoke(runner, ["train", csv, "--out", tmp_path / "r",
                                                 *kind]))
    assert "'a'" in line and "more than once" in line
    assert not (tmp_path / "r").exists()


def test_a_trailing_delimiter_is_not_a_column(tmp_path):
    table = read_table(str(write(tmp_path / "t.csv", "a,b,", ["1,2,", "3,4,"])))
    assert table.columns == ["a", "b"] and table.values.tolist() == [[1, 2], [3, 4]]
    series = read_series(str(write(tmp_path / "s.csv", "date,v,",
                                   ["2024-01-01,1,", "2024-01-02,2,", "2024-01-03,,"])))
    assert series.columns == ["v"] and series.values.shape == (1, 3, 1)
    named = read_table(str(write(tmp_path / "n.csv", "a,b,c", ["1,2,", "3,4,"])))
    assert named.columns == ["a", "b", "c"]  # a named empty column is the user's: refused later


def test_api_time_column_of_a_dataframe_is_the_rows_times():
    """Not a channel in training; forecast and impute read a frame holding it, and impute
    gives the frame back with it as given."""
    pd = pytest.importorskip("pandas")
    import alternators_cli as alt
    from alternators_cli.errors import BadInput

    frame = pd.DataFrame({"year": np.arange(1871.0, 1951.0),
                          "volume": 900 + 100 * np.sin(np.arange(80) / 4)})
    model = alt.train(frame, time_column="year", epochs=1, epoch_size=32, batch_size=32,
                      hidden=16, latent_dim=4)
    assert model.kind == "sequence" and model.columns == ["volume"]
    with pytest.raises(BadInput, match="no such column"):
        alt.train(frame, time_column="when", epochs=1)
    assert model.forecast(frame, horizon=3, n=5).shape == (5, 3, 1)
    gappy = frame.copy()
    gappy.loc[40:42, "volume"] = np.nan
    filled = model.impute(gappy, n=5)
    assert list(filled.columns) == ["year", "volume"]
    assert filled["year"].tolist() == frame["year"].tolist()
    assert not filled["volume"].isna().any()
    assert np.allclose(filled["volume"][:40], frame["volume"][:40], rtol=1e-6)
