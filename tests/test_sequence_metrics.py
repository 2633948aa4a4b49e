"""Time-series evaluation pieces (SPEC section 5, sequences): masks, baselines, scores,
CRPS and latent recovery."""

from __future__ import annotations

import numpy as np
import pytest

from alternators_cli.sequence_metrics import (
    apply_linear_readout,
    block_mask,
    crps_from_samples,
    crps_point,
    detect_season,
    fit_linear_readout,
    latent_recovery,
    linear_interpolation,
    mae,
    mse,
    pearson_per_dim,
    persistence_forecast,
    scattered_mask,
    seasonal_naive_forecast,
)


def _runs(row: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each run of True in a 1-D boolean array."""
    padded = np.concatenate(([False], row, [False])).astype(np.int8)
    edges = np.diff(padded)
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return [(int(s), int(e - s)) for s, e in zip(starts, ends, strict=True)]


# ---- masks ----------------------------------------------------------------------------------


def test_scattered_mask_hides_exact_whole_steps_and_is_reproducible():
    shape = (5, 40, 3)
    mask = scattered_mask(shape, 0.3, np.random.default_rng(0))
    assert mask.shape == shape and mask.dtype == bool
    assert (mask.sum(axis=1) == 12).all()  # round(0.3 * 40) steps per series and channel
    assert (mask == mask[:, :, :1]).all()  # a hidden step hides all channels
    again = scattered_mask(shape, 0.3, np.random.default_rng(0))
    other = scattered_mask(shape, 0.3, np.random.default_rng(1))
    assert np.array_equal(mask, again)
    assert not np.array_equal(mask, other)
    # not always the same steps in every series
    assert not all(np.array_equal(mask[0], mask[i]) for i in range(1, 5))


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_scattered_mask_extremes(fraction):
    mask = scattered_mask((2, 7, 2), fraction, np.random.default_rng(3))
    assert mask.sum() == round(fraction * 7) * 2 * 2


def test_block_mask_blocks_are_contiguous_of_block_length_and_keep_first_step():
    shape = (20, 100, 2)
    mask = block_mask(shape, 0.3, np.random.default_rng(0), block=10)
    assert (mask.sum(axis=1) == 30).all()
    assert (mask == mask[:, :, :1]).all()
    assert not mask[:, 0, :].any()
    starts = set()
    for row in mask[:, :, 0]:
        runs = _runs(row)
        assert [length for _, length in runs] == [10, 10, 10]
        starts.update(s for s, _ in runs)
    assert len(starts) > 10  # placed at random, not on a fixed grid
    again = block_mask(shape, 0.3, np.random.default_rng(0), block=10)
    assert np.array_equal(mask, again)
    assert not np.array_equal(mask, block_mask(shape, 0.3, np.random.default_rng(1), block=10))


def test_block_mask_dense_blocks_stay_separate():
    # 18 of 29 hideable steps in 4 blocks: blocks would often touch if placed carelessly
    mask = block_mask((30, 30, 1), 0.6, np.random.default_rng(4), block=5)
    for row in mask[:, :, 0]:
        assert not row[0]
        assert sorted(length for _, length in _runs(row)) == [3, 5, 5, 5]


def test_block_mask_count_is_exact_with_one_short_block():
    mask = block_mask((10, 100, 1), 0.25, np.random.default_rng(2), block=10)
    for row in mask[:, :, 0]:
        assert row.sum() == 25
        assert sorted(length for _, length in _runs(row)) == [5, 10, 10]


def test_block_mask_never_hides_whole_series():
    mask = block_mask((4, 12, 2), 1.0, np.random.default_rng(0), block=5)
    assert not mask[:, 0, :].any()
    assert mask[:, 1:, :].all()  # everything else may be hidden (count capped at T - 1)


# ---- baselines ------------------------------------------------------------------------------


def test_linear_interpolation_exact_on_ramp_and_holds_ends():
    t = np.arange(20, dtype=float)
    truth = np.stack([2.0 * t + 1.0, -0.5 * t], axis=-1)[None]  # (1, 20, 2)
    holes = truth.copy()
    holes[0, [3, 4, 5, 11], 0] = np.nan
    holes[0, [0, 1, 18, 19], 1] = np.nan  # ends of channel 1
    holes[0, [7, 8], 1] = np.nan
    before = holes.copy()
    filled = linear_interpolation(holes)
    assert not np.isnan(filled).any()
    np.testing.assert_allclose(filled[0, :, 0], truth[0, :, 0])
    inner = filled[0, 2:18, 1]
    np.testing.assert_allclose(inner, truth[0, 2:18, 1])
    assert filled[0, 0, 1] == filled[0, 1, 1] == truth[0, 2, 1]  # held, not extrapolated
    assert filled[0, 18, 1] == filled[0, 19, 1] == truth[0, 17, 1]
    np.testing.assert_array_equal(holes, before)  # input left untouched


def test_linear_interpolation_all_missing_channel_is_zero():
    values = np.full((2, 5, 2), np.nan)
    values[:, :, 0] = 3.0
    filled = linear_interpolation(values)
    assert (filled[:, :, 0] == 3.0).all()
    assert (filled[:, :, 1] == 0.0).all()


def test_persistence_forecast_repeats_last_observed_value():
    history = np.array([[[1.0, 10.0], [2.0, 20.0], [3.0, np.nan]]])  # (1, 3, 2)
    forecast = persistence_forecast(history, 4)
    assert forecast.shape == (1, 4, 2)
    assert (forecast[0, :, 0] == 3.0).all()
    assert (forecast[0, :, 1] == 20.0).all()  # skips the trailing NaN


def test_seasonal_naive_forecast_repeats_last_season():
    history = np.arange(10, dtype=float).reshape(1, 10, 1)  # 0..9
    history = np.concatenate([history, 100 + history], axis=-1)
    forecast = seasonal_naive_forecast(history, 7, season=3)
    assert forecast.shape == (1, 7, 2)
    np.testing.assert_array_equal(forecast[0, :, 0], [7, 8, 9, 7, 8, 9, 7])
    np.testing.assert_array_equal(forecast[0, :, 1], [107, 108, 109, 107, 108, 109, 107])
    with pytest.raises(ValueError):
        seasonal_naive_forecast(history, 2, season=11)


def test_detect_season_finds_period_of_noisy_sine():
    rng = np.random.default_rng(0)
    t = np.arange(240)
    phases = rng.uniform(0, 2 * np.pi, size=(3, 1, 2))
    series = np.sin(2 * np.pi * t[None, :, None] / 12 + phases)
    series = series + 0.3 * rng.standard_normal(series.shape)
    series[0, 50:55, 0] = np.nan
    assert detect_season(series) == 12
    assert detect_season(series[1]) == 12  # a single (T, D) series


def test_detect_season_white_noise_and_short_lags_give_none():
    rng = np.random.default_rng(0)
    assert detect_season(rng.standard_normal((3, 240, 2))) is None
    t = np.arange(240)
    sine = np.sin(2 * np.pi * t / 12)[:, None]
    assert detect_season(sine, max_lag=8) is None  # the period lies beyond max_lag


# ---- point scores ---------------------------------------------------------------------------


def test_mae_mse_with_mask_and_nan_truth():
    truth = np.array([[[0.0], [1.0], [np.nan], [3.0]]])
    pred = np.array([[[1.0], [3.0], [100.0], [3.0]]])
    assert mae(pred, truth) == pytest.approx((1 + 2 + 0) / 3)
    assert mse(pred, truth) == pytest.approx((1 + 4 + 0) / 3)
    mask = np.array([[[False], [True], [True], [True]]])
    assert mae(pred, truth, mask) == pytest.approx((2 + 0) / 2)
    assert mse(pred, truth, mask) == pytest.approx((4 + 0) / 2)
    with pytest.raises(ValueError):
        mae(pred, truth, np.zeros_like(mask))


# ---- CRPS -----------------------------------------------------------------------------------


def _crps_brute(samples: np.ndarray, truth: np.ndarray) -> float:
    term1 = np.abs(samples - truth).mean(axis=0)
    term2 = np.abs(samples[:, None] - samples[None, :]).mean(axis=(0, 1))
    return float(np.mean(term1 - 0.5 * term2))


@pytest.mark.parametrize("s", [1, 2, 7, 30])
def test_crps_sorting_formula_equals_brute_force(s):
    rng = np.random.default_rng(s)
    samples = rng.standard_normal((s, 3, 8, 2))
    truth = rng.standard_normal((3, 8, 2))
    assert crps_from_samples(samples, truth) == pytest.approx(_crps_brute(samples, truth))


def test_crps_ignores_nan_truth():
    rng = np.random.default_rng(5)
    samples = rng.standard_normal((9, 4, 3))
    truth = rng.standard_normal((4, 3))
    holed = truth.copy()
    holed[1, 2] = np.nan
    keep = ~np.isnan(holed)
    expected = _crps_brute(samples[:, keep], truth[keep])
    assert crps_from_samples(samples, holed) == pytest.approx(expected)


def test_crps_of_identical_samples_is_mae():
    rng = np.random.default_rng(1)
    pred = rng.standard_normal((2, 6, 3))
    truth = rng.standard_normal((2, 6, 3))
    samples = np.repeat(pred[None], 5, axis=0)
    assert crps_from_samples(samples, truth) == pytest.approx(mae(pred, truth))
    assert crps_from_samples(pred[None], truth) == pytest.approx(mae(pred, truth))
    assert crps_point(pred, truth) == pytest.approx(mae(pred, truth))


def test_crps_decreases_when_samples_centre_on_truth():
    rng = np.random.default_rng(2)
    truth = rng.standard_normal((4, 10, 2))
    noise = rng.standard_normal((50, 4, 10, 2))
    scores = [crps_from_samples(truth + shift + noise, truth) for shift in (3.0, 1.0, 0.0)]
    assert scores[0] > scores[1] > scores[2] > 0


# ---- latent recovery ------------------------------------------------------------------------


def test_pearson_per_dim():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((200, 3))
    b = np.stack([2 * a[:, 0] + 1, -a[:, 1], rng.standard_normal(200)], axis=1)
    r = pearson_per_dim(a, b)
    assert r.shape == (3,)
    np.testing.assert_allclose(r[:2], [1.0, -1.0])
    assert abs(r[2]) < 0.2
    assert np.isnan(pearson_per_dim(a, np.ones_like(a))).all()


def test_linear_readout_recovers_affine_map():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((100, 4)) * [1.0, 10.0, 0.1, 3.0] + 5.0
    w_true = rng.standard_normal((4, 2))
    b_true = np.array([1.5, -2.0])
    w, b = fit_linear_readout(z, z @ w_true + b_true, ridge=0.0)
    np.testing.assert_allclose(w, w_true, atol=1e-8)
    np.testing.assert_allclose(b, b_true, atol=1e-8)
    np.testing.assert_allclose(apply_linear_readout(z, w, b), z @ w_true + b_true, atol=1e-8)


def test_latent_recovery_high_for_linear_map_low_for_noise():
    rng = np.random.default_rng(0)
    s = rng.standard_normal((600, 3))
    mix = rng.standard_normal((3, 5))
    z = s @ mix + 0.05 * rng.standard_normal((600, 5))
    r = latent_recovery(z[:400], s[:400], z[400:], s[400:])
    assert r.shape == (3,)
    assert (r > 0.98).all()
    unrelated = rng.standard_normal((600, 5))
    r0 = latent_recovery(unrelated[:400], s[:400], unrelated[400:], s[400:])
    assert (np.abs(r0) < 0.3).all()
