"""`evaluate` for a sequence model: held-out series scored by imputation and a
rolling-origin backtest of forecasts (and, for lorenz, latent recovery); also the
evaluation `train` prints at the end of a sequence run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alternators_cli.cli.common import refuse_above_memory, say, warn
from alternators_cli.cli.report import print_sequence_report
from alternators_cli.cli.series_io import (
    check_plot_target,
    draws_memory,
    read_input,
    write_plot,
)
from alternators_cli.errors import BadInput

DEFAULT_HORIZON = 20


def evaluate_checkpoint(ckpt, options) -> None:
    """`evaluate -c` of a sequence model (options: cli.evaluate.EvaluateOptions)."""
    if options.reference is not None:
        raise BadInput("--reference is for distributions; a sequence model is scored on "
                       "--input (or its held-out part)")
    evaluate_sequence_checkpoint(ckpt, options.input, options.as_json, options.horizon,
                                 options.season, options.seed, options.plot)


def final_evaluation(ckpt, as_json: bool) -> None:
    try:
        evaluate_sequence_checkpoint(ckpt, None, as_json)
    except BadInput as exc:  # the run itself succeeded: say why it is not scored
        warn(f"no evaluation: {exc}")


def evaluate_sequence_checkpoint(
    ckpt, input_spec: str | None, as_json: bool, horizon: int | None = None,
    season: int | None = None, seed: int = 0, plot: Path | None = None,
) -> None:
    """Score a sequence model. Built-in data: fresh segments, each forecast from its start.
    A user's series (--input, or the checkpoint's held-out part after the steps before it):
    imputation on held-out segments, and a rolling-origin backtest of forecasts over the
    last part."""
    from alternators_cli import sequences as sq

    check_plot_target(plot)
    window = ckpt.settings.window
    time = None
    if input_spec is None and ckpt.data.get("builtin"):
        if plot:
            raise BadInput("--plot for a built-in sequence model: give --input a series to "
                           "backtest")
        horizon = horizon or DEFAULT_HORIZON
        length = window + horizon
        refuse_above_memory(draws_memory(ckpt, 100, sq.EVAL_SEGMENTS, length),  # at most
                            f"evaluate --horizon {horizon}", "score a shorter --horizon")
        values, states = sq.lorenz_heldout(sq.EVAL_SEGMENTS, length, seed)
        say(f"evaluating on {len(values)} fresh {ckpt.data['name']} segments of {length} "
            "steps")
        result = sq.evaluate(ckpt.model, ckpt.normalizer, values, seed, horizon=horizon,
                             season=season, states=states, progress=progress_line)
        result["source"] = f"fresh {ckpt.data['name']} trajectories"
        print_sequence_report(result, as_json)
        return
    if input_spec is not None:
        given = read_input(input_spec, ckpt)
        given.say_notes()
        values, time = given.values, given.time
        source, start = f"--input {input_spec}", None
        unseen = 0  # every step is held out
    elif ckpt.heldout is not None:
        heldout = ckpt.heldout
        before = ckpt.heldout_history
        values = heldout if before is None else np.concatenate([before, heldout], axis=1)
        start = None if before is None else before.shape[1]
        unseen = start or 0  # the steps before are training data
        source = f"held-out part of {ckpt.data['name']}"
    else:
        raise BadInput("the checkpoint keeps no held-out series: give --input")
    T = values.shape[1]
    if start is None:  # a series of its own: the first window is history only
        start = min(window, T // 2)
    if horizon is None:
        horizon = min(DEFAULT_HORIZON, max(1, (T - start) // 2))
    if T - start < horizon or start < 1:
        raise BadInput(
            f"{source} is too short to score at --horizon {horizon}: a backtest needs "
            f"{horizon} step(s) after its first forecast origin (step {start + 1} of {T}); "
            "give a smaller --horizon or a longer series"
        )
    length = window + horizon
    refuse_above_memory(draws_memory(ckpt, 100, sq.EVAL_SEGMENTS, length),  # at most
                        f"evaluate --horizon {horizon}", "score a shorter --horizon")
    segs = sq.segments(values[:, unseen:], length)
    scored_from = 0
    if len(segs) < 2:  # too short for segments: the whole series, hiding only unseen steps
        segs, scored_from = values, unseen
    if season is None:
        # Detected on the whole series (a history may be too short to show a season), up
        # to the longest season the backtest's history can repeat.
        from alternators_cli.sequence_metrics import detect_season

        season = detect_season(values, max_lag=max(2, min(start, sq.BACKTEST_HISTORY)))
    sq.backtest_windows(values, start, horizon)  # refuses, before any progress line
    say(f"evaluating on {source}: {T} steps, forecasts scored from step {start + 1}")
    result = {"segments": int(segs.shape[0]), "length": int(segs.shape[1]), "draws": 50,
              "source": source, "hidden_from_step": scored_from + 1}
    bt = sq.backtest(ckpt.model, ckpt.normalizer, values, start, horizon, seed,
                     season=season, progress=progress_line)
    result["imputation"] = sq.imputation_rows(ckpt.model, ckpt.normalizer, segs, seed,
                                              scored_from=scored_from, progress=progress_line)
    result["forecast"] = bt.report
    print_sequence_report(result, as_json)
    if plot:
        write_plot(plot, backtest_picture(ckpt, values, bt, time, source))


def backtest_picture(ckpt, values: np.ndarray, bt, time, source: str) -> bytes:
    from alternators_cli.plots import backtest_png
    from alternators_cli.sequences import COVERAGE_BAND, band_quantiles

    H = bt.truth.shape[2]
    # Forecasts that do not overlap, from the last origin back.
    keep, last = [], None
    for k in range(len(bt.origins) - 1, -1, -1):
        if last is None or bt.origins[k] + H <= last:
            keep.append(k)
            last = bt.origins[k]
    keep = keep[::-1]
    paths = bt.paths[:, 0, keep]  # (S, K', H, D), series 0
    median = np.median(paths, axis=0)
    lo, hi = np.quantile(paths, band_quantiles(COVERAGE_BAND), axis=0)
    fc = bt.report
    title = (f"{ckpt.data['name']} model, backtest on {source}: {fc['origins']} forecasts of "
             f"{H} steps; CRPS {fc['crps_mean_over_horizon']:.3g} (persistence MAE "
             f"{fc['persistence_mae_mean_over_horizon']:.3g})")
    T = values.shape[1]
    first_shown = max(0, int(bt.origins[0]) - max(3 * H, 24))
    x = time.times if time is not None else np.arange(1, T + 1)  # steps counted from 1
    return backtest_png(values[0], x, bt.origins[keep], median, lo, hi, ckpt.columns,
                        title, f"central {COVERAGE_BAND:.0%}", first_shown=first_shown)


def progress_line(message: str) -> None:
    say(f"evaluating: {message}")
