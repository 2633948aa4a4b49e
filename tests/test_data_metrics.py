"""Built-in data sets (SPEC section 4), users' CSV / .npy tables, and the quality
metrics with their floors (SPEC section 5)."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch

from alternators_cli import evaluation, metrics
from alternators_cli.data import check_distribution_table, parse_csv, read_table
from alternators_cli.datasets import BUILTINS, REQUIRED, draw_builtin
from alternators_cli.errors import BadInput
from alternators_cli.evaluation import Reference

# ---- built-in sets ----------------------------------------------------------------------


def test_required_and_standard_sets_are_built_in():
    for name in (*REQUIRED, "moons", "circles", "rings", "swissroll"):
        assert name in BUILTINS
        assert BUILTINS[name].dim == 2


@pytest.mark.parametrize("name", list(BUILTINS))
def test_builtin_shape_dtype_and_determinism(name):
    dim = BUILTINS[name].dim
    a = draw_builtin(name, 501, seed=4)
    b = draw_builtin(name, 501, seed=4)
    c = draw_builtin(name, 501, seed=5)
    assert a.shape == (501, dim) and a.dtype == np.float32
    assert np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert draw_builtin(name, 1, seed=0).shape == (1, dim)


def test_unknown_builtin_is_a_bad_input():
    with pytest.raises(BadInput, match="unknown dataset"):
        draw_builtin("nosuch", 10, 0)


def test_8gaussians_definition():
    x = draw_builtin("8gaussians", 8000, 0).astype(np.float64) * 1.414
    angles = np.arange(8) * np.pi / 4
    centres = 4 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    nearest = np.argmin(((x[:, None] - centres[None]) ** 2).sum(-1), axis=1)
    counts = np.bincount(nearest, minlength=8)
    assert counts.min() > 800 and counts.max() < 1200, counts  # 8 equal modes
    residual = x - centres[nearest]
    np.testing.assert_allclose(residual.std(axis=0), 0.5, atol=0.03)
    np.testing.assert_allclose(residual.mean(axis=0), 0, atol=0.03)
    assert abs(np.median(np.linalg.norm(x, axis=1)) - 4) < 0.1


def test_pinwheel_definition():
    x = draw_builtin("pinwheel", 8000, 0).astype(np.float64) / 2
    r = np.linalg.norm(x, axis=1)  # sqrt(radial^2 + tangential^2), radial ~ N(1, 0.3^2)
    assert abs(np.median(r) - 1.0) < 0.05
    # 5 arms: rotating by 2pi/5 maps the set onto itself (compare angle histograms).
    theta = np.arctan2(x[:, 1], x[:, 0])
    hist = np.histogram(np.mod(theta, 2 * np.pi / 5), bins=10)[0]
    full = np.histogram(theta, bins=50, range=(-np.pi, np.pi))[0]
    assert hist.min() > 0
    assert full.max() > 2 * full.mean(), "points concentrate on arms, not a uniform disc"


def test_checkerboard_definition():
    x = draw_builtin("checkerboard", 5000, 0).astype(np.float64)
    assert x[:, 0].min() >= -4 and x[:, 0].max() < 4
    assert x[:, 1].min() >= -4 and x[:, 1].max() < 4
    # Only the "black" squares: floor(x1/2) + floor(x2/2) is even for every point.
    parity = (np.floor(x[:, 0] / 2) + np.floor(x[:, 1] / 2)) % 2
    assert np.all(parity == 0)
    cells = {(int(a), int(b)) for a, b in np.floor(x / 2)}
    assert len(cells) == 8


def test_2spirals_definition():
    x = draw_builtin("2spirals", 6001, 0).astype(np.float64)
    assert x.shape == (6001, 2)
    r = np.linalg.norm(x, axis=1)
    max_arm = (540 * 2 * np.pi / 360 + 0.5 * math.sqrt(2)) / 3
    assert r.max() < max_arm + 0.5
    assert r.max() > 0.8 * max_arm
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=0.1)  # the arm and its negation


def test_circles_and_rings_radii():
    r = np.linalg.norm(draw_builtin("circles", 4000, 0), axis=1)
    near = (np.abs(r - 3.0) < 0.72) | (np.abs(r - 1.5) < 0.72)  # noise 3 * 0.08
    assert near.mean() > 0.98
    r = np.linalg.norm(draw_builtin("rings", 4000, 0), axis=1)
    assert (np.abs(r[:, None] - 0.75 * np.arange(1, 5)[None]).min(axis=1) < 0.3).mean() > 0.98


# ---- CSV and .npy ------------------------------------------------------------------------


def test_csv_with_header():
    t = parse_csv("a, b\n1,2\n3.5,-4e1\n", "x.csv")
    assert t.columns == ["a", "b"]
    np.testing.assert_array_equal(t.values, [[1, 2], [3.5, -40]])


def test_csv_without_header_gets_default_names():
    t = parse_csv("1,2,3\n4,5,6\n", "x.csv")
    assert t.columns == ["x0", "x1", "x2"]
    assert t.values.shape == (2, 3)


def test_csv_tabs_comments_and_blank_lines():
    t = parse_csv("# a comment\n\nu\tv\n1\t2\n\n3\t4\n", "x.tsv")
    assert t.columns == ["u", "v"]
    np.testing.assert_array_equal(t.values, [[1, 2], [3, 4]])


def test_csv_missing_cells_become_nan_and_are_refused_as_a_distribution():
    t = parse_csv("a,b\n1,\nnan,2\n3,4\n", "x.csv")
    assert np.isnan(t.values[0, 1]) and np.isnan(t.values[1, 0])
    with pytest.raises(BadInput, match="NaN"):
        check_distribution_table(t)


def test_infinite_values_are_refused():
    t = parse_csv("a,b\n1,2\ninf,2\n3,4\n", "x.csv")
    with pytest.raises(BadInput, match="infinite"):
        check_distribution_table(t)


@pytest.mark.parametrize(
    "text,needle",
    [
        ("", "empty"),
        ("\n  \n# only a comment\n", "empty"),
        ("a,b\n", "header"),
        ("a,b\n1,2\n3\n", "ragged"),
        ("a,b\n1,2\n3,4,5\n", "ragged"),
        ("a,b\n1,2\n3,four\n", "not a number"),
    ],
)
def test_bad_csv_text(text, needle):
    with pytest.raises(BadInput, match=needle):
        parse_csv(text, "x.csv")


def test_text_cell_error_names_row_and_column():
    with pytest.raises(BadInput) as info:
        parse_csv("a,b\n1,2\n3,four\n", "x.csv")
    assert "row 3" in str(info.value) and "column 2" in str(info.value)


def test_too_few_rows():
    with pytest.raises(BadInput, match="row"):
        check_distribution_table(parse_csv("1,2\n", "x.csv"), min_rows=2)


def test_a_very_long_cell_is_a_bad_input_not_a_crash():
    text = "a,b\n1,2\n" + "1" * 200_000 + ",3\n"
    with pytest.raises(BadInput):
        parse_csv(text, "x.csv")


def test_values_beyond_float32_are_refused_not_turned_into_inf():
    """1e300 is finite as a float64 but not as the float32 the model uses."""
    table = parse_csv("a,b\n1e300,2\n3,4\n5,6\n", "x.csv")
    try:
        values = check_distribution_table(table)
    except BadInput:
        return
    assert np.isfinite(values).all(), f"accepted and returned {values.tolist()}"


def test_read_table_csv_file_with_bom(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffa,b\n1,2\n".encode())
    assert read_table(str(path)).columns == ["a", "b"]


def test_read_table_from_stdin_bytes():
    t = read_table("-", io.BytesIO(b"x,y\n1,2\n3,4\n"))
    assert t.columns == ["x", "y"] and t.values.shape == (2, 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_npy_2d(tmp_path, dtype):
    arr = (np.arange(12).reshape(6, 2) * 1.5).astype(dtype)
    np.save(tmp_path / "a.npy", arr)
    t = read_table(str(tmp_path / "a.npy"))
    np.testing.assert_array_equal(t.values, arr.astype(np.float64))
    assert t.columns == ["x0", "x1"]


def test_npy_1d_is_one_column(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(5.0))
    assert read_table(str(tmp_path / "a.npy")).values.shape == (5, 1)


@pytest.mark.parametrize(
    "array,needle",
    [
        (np.zeros((2, 3, 4)), "shape"),
        (np.zeros((0, 2)), "empty"),
        (np.array(["a", "b"]), "dtype"),
    ],
)
def test_bad_npy(tmp_path, array, needle):
    np.save(tmp_path / "a.npy", array)
    with pytest.raises(BadInput, match=needle):
        read_table(str(tmp_path / "a.npy"))


def test_object_npy_is_refused_without_unpickling(tmp_path):
    np.save(tmp_path / "a.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(BadInput, match="objects"):
        read_table(str(tmp_path / "a.npy"))


def test_corrupt_npy(tmp_path):
    (tmp_path / "a.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(BadInput, match="npy"):
        read_table(str(tmp_path / "a.npy"))


# ---- metrics ----------------------------------------------------------------------------


def _brute(s: np.ndarray, r: np.ndarray, h: float) -> tuple[float, float]:
    def d(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    def k(a, b):
        return np.exp(-d(a, b) ** 2 / (2 * h * h))

    energy = 2 * d(s, r).mean() - d(s, s).mean() - d(r, r).mean()
    mmd = k(s, s).mean() + k(r, r).mean() - 2 * k(s, r).mean()
    return energy, mmd


def test_energy_and_mmd_match_the_v_statistic_definitions():
    rng = np.random.default_rng(0)
    s, r = rng.normal(size=(40, 3)), rng.normal(0.5, 1.0, size=(30, 3))
    d_rr = np.sqrt(((r[:, None] - r[None]) ** 2).sum(-1))
    h = float(np.median(d_rr[np.triu_indices(30, 1)]))
    assert metrics.median_bandwidth(r) == pytest.approx(h, rel=1e-5)
    energy, mmd = metrics.energy_and_mmd(s, r, h)
    want_e, want_m = _brute(s, r, h)
    assert energy == pytest.approx(want_e, rel=1e-4, abs=1e-6)
    assert mmd == pytest.approx(want_m, rel=1e-4, abs=1e-7)


def test_metrics_of_a_set_with_itself_are_zero():
    x = draw_builtin("pinwheel", 700, 0)
    assert metrics.energy_distance(x, x) == pytest.approx(0, abs=1e-9)
    assert metrics.mmd2(x, x, 1.0) == pytest.approx(0, abs=1e-9)
    assert metrics.sliced_w2(x, x) == pytest.approx(0, abs=1e-12)


def test_energy_distance_same_vs_shifted_distribution():
    a = draw_builtin("8gaussians", 600, 1)
    b = draw_builtin("8gaussians", 600, 2)
    same = metrics.energy_distance(a, b)
    shifted = metrics.energy_distance(a, b + np.float32(1.0))
    assert 0 < same < shifted / 10


def test_energy_distance_of_two_draws_is_about_2_mean_distance_over_n():
    """The V-statistic keeps the i = k pairs: two draws of one distribution give about
    2 E|X - X'| / n (a U-statistic would give about 0)."""
    n = 200
    values, scales = [], []
    for i in range(12):
        a = draw_builtin("8gaussians", n, 100 + 2 * i)
        b = draw_builtin("8gaussians", n, 101 + 2 * i)
        values.append(metrics.energy_distance(a, b))
        d = np.sqrt(((a[:, None].astype(np.float64) - b[None]) ** 2).sum(-1))
        scales.append(2 * d.mean() / n)
    ratio = np.mean(values) / np.mean(scales)
    assert 0.6 < ratio < 1.4, ratio


@pytest.mark.parametrize("seed", range(5))
def test_mmd_is_non_negative(seed):
    rng = np.random.default_rng(seed)
    s = rng.normal(size=(50, 2))
    r = rng.normal(size=(60, 2)) * rng.uniform(0.5, 2)
    for h in (0.1, 1.0, 10.0):
        assert metrics.mmd2(s, r, h) >= -1e-12


def test_sliced_w2_of_a_shift_is_the_mean_square_projection_of_the_shift():
    x = draw_builtin("moons", 500, 0).astype(np.float64)
    v = np.array([0.7, -1.9])
    value = metrics.sliced_w2(x, x + v)
    g = torch.Generator().manual_seed(metrics.SLICED_SEED)
    theta = torch.randn(2, metrics.SLICED_DIRECTIONS, generator=g, dtype=torch.float64)
    theta = (theta / theta.norm(dim=0, keepdim=True)).numpy()
    assert value == pytest.approx(math.sqrt(((v @ theta) ** 2).mean()), rel=1e-6)
    # Over many random directions E[(v.theta)^2] = |v|^2 / D.
    assert value == pytest.approx(np.linalg.norm(v) / math.sqrt(2), rel=0.1)
    assert metrics.sliced_w2(x + v, x) == pytest.approx(value, rel=1e-9)


def test_sliced_w2_with_different_sizes():
    a = draw_builtin("rings", 300, 0)
    b = draw_builtin("rings", 500, 1)
    assert 0 < metrics.sliced_w2(a, b) < metrics.sliced_w2(a, b + 2)


# ---- floors and ratios ------------------------------------------------------------------


def test_report_against_a_builtin_reference():
    """Draws of the reference distribution score a ratio about 1 (the floor is itself a
    noisy estimate, so average over a few draws); a shifted copy scores far worse."""
    ref = Reference("pinwheel", True)
    good_ratios, bad_ratios = [], []
    for seed in range(70, 75):
        good = draw_builtin("pinwheel", 500, seed)
        r_good = evaluation.report(good, ref, 500, seed=0)
        r_bad = evaluation.report(good + np.float32(1.0), ref, 500, seed=0)
        assert r_good["n"] == 500 and r_good["reference"] == "pinwheel"
        for key in metrics.METRICS:
            g, b = r_good[key], r_bad[key]
            assert g["floor"] > 0
            assert g["ratio"] == pytest.approx(g["value"] / g["floor"])
            assert b["floor"] == pytest.approx(g["floor"]), "the floor depends on the reference"
        good_ratios.append([r_good[k]["ratio"] for k in metrics.METRICS])
        bad_ratios.append([r_bad[k]["ratio"] for k in metrics.METRICS])
    good_mean = np.mean(good_ratios, axis=0)
    bad_mean = np.mean(bad_ratios, axis=0)
    assert np.all((good_mean > 0.3) & (good_mean < 3)), good_mean
    assert np.all(bad_mean > 4 * good_mean), (good_mean, bad_mean)
    # Deterministic in the seed.
    again = evaluation.report(draw_builtin("pinwheel", 500, 70), ref, 500, seed=0)
    assert again["energy_distance"]["ratio"] == good_ratios[0][0]


def test_floor_is_the_metric_between_two_reference_draws():
    ref = Reference("8gaussians", True)
    result = evaluation.report(draw_builtin("8gaussians", 300, 5), ref, 300, seed=1)
    a, b = draw_builtin("8gaussians", 300, 900), draw_builtin("8gaussians", 300, 901)
    own = metrics.all_metrics(a, b, metrics.median_bandwidth(b))
    for key in metrics.METRICS:
        assert own[key] / 4 < result[key]["floor"] < own[key] * 4, (key, own, result[key])


def test_report_against_a_file_reference_uses_every_row_and_all_samples():
    points = draw_builtin("circles", 101, 0)
    ref = Reference("file.csv", False, points)
    assert ref.dim == 2 and ref.max_n() is None
    result = evaluation.report(draw_builtin("circles", 1000, 1), ref, 5000, seed=0)
    assert result["n"] == 1000 and result["n_reference"] == 101
    assert result["units"] == "standardised"
    for key in metrics.METRICS:
        assert result[key]["floor"] > 0


def test_report_uses_only_n_samples():
    ref = Reference("moons", True)
    samples = draw_builtin("moons", 1000, 3)
    assert evaluation.report(samples, ref, 100, seed=0)["n"] == 100
    assert evaluation.report(samples[:30], ref, 100, seed=0)["n"] == 30


@pytest.mark.parametrize(
    "samples,needle",
    [
        (np.zeros((10, 3), np.float32), "column"),
        (np.full((10, 2), np.nan, np.float32), "NaN"),
        (np.zeros((1, 2), np.float32), "at least 2"),
        (np.zeros((2, 5, 2), np.float32), "shape"),
    ],
)
def test_report_refuses_bad_samples(samples, needle):
    with pytest.raises(BadInput, match=needle):
        evaluation.report(samples, Reference("pinwheel", True), 100, seed=0)


@pytest.mark.parametrize("index", ["none", "step", "path_t"])
def test_csv_rows_are_the_bytes_of_savetxt(index):
    """Output CSV is formatted in blocks of rows at once: the bytes must stay those of
    np.savetxt with %.7g (and %d for index columns), across a block boundary, for NaN,
    infinities, signed zero and values over 16 orders of magnitude."""
    from alternators_cli import output

    rng = np.random.default_rng(0)
    n = output.CSV_BLOCK_ROWS + 3
    x = (rng.standard_normal((n, 3)) * 10.0 ** rng.integers(-8, 9, (n, 3))).astype(np.float32)
    x[1, 1], x[2, 0], x[3, 2], x[4, 0] = np.nan, np.inf, -np.inf, -0.0
    kwargs: dict = {}
    lead = None  # the integer columns savetxt is given before the points
    if index == "step":
        kwargs["step"] = 7
        lead = np.full((n, 1), 7)
    elif index == "path_t":
        kwargs["index"] = lead = np.stack([np.arange(n) // 10, np.arange(n) % 10], axis=1)
    buf = io.StringIO()
    if lead is None:
        np.savetxt(buf, x, fmt="%.7g", delimiter=",")
    else:
        table = np.hstack([lead.astype(np.float64), x.astype(np.float64)])
        np.savetxt(buf, table, fmt=["%d"] * lead.shape[1] + ["%.7g"] * 3, delimiter=",")
    assert output.csv_rows(x, **kwargs) == buf.getvalue().encode()
    assert output.csv_rows(x[:0]) == b""
