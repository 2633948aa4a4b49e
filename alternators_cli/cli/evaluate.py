"""`evaluate`: score a checkpoint's samples (or a file of samples) against a reference; a
sequence model on held-out series. Also the evaluation `train` prints at the end."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from alternators_cli.cli.common import (
    DeviceOpt,
    JsonOpt,
    QuietOpt,
    SeedOpt,
    load_checkpoint,
    refuse_above_memory,
    say,
    warn,
)
from alternators_cli.cli.report import print_report, print_sequence_report
from alternators_cli.cli.series_io import (
    check_plot_target,
    draws_memory,
    read_input,
    write_plot,
)
from alternators_cli.errors import BadInput


def evaluate(
    checkpoint_spec: Annotated[
        str | None,
        typer.Option("--checkpoint", "-c", help="Evaluate fresh samples of this checkpoint."),
    ] = None,
    samples_spec: Annotated[
        str | None,
        typer.Option("--samples", help="Evaluate samples from a .csv/.npy file, or - for stdin."),
    ] = None,
    reference_spec: Annotated[
        str | None,
        typer.Option(
            "--reference", help="Built-in set name or file.",
            show_default="the checkpoint's held-out data"
        ),
    ] = None,
    n: Annotated[int, typer.Option("-n", "--num", min=2, help="Points compared.")] = 5000,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Write a PNG of samples beside the reference (sequences: "
                                    "the backtest's forecasts against the truth)."),
    ] = None,
    input_spec: Annotated[
        str | None,
        typer.Option("--input", help="Sequences: held-out series to score (.csv/.npy).",
                     show_default="the checkpoint's held-out part"),
    ] = None,
    horizon: Annotated[
        int | None,
        typer.Option(min=1, max=100_000, help="Sequences: forecast horizon scored.",
                     show_default="20, less for a short series"),
    ] = None,
    season: Annotated[
        int | None,
        typer.Option(min=2, help="Sequences: season length for the seasonal-naive baseline.",
                     show_default="detected from the data, if any"),
    ] = None,
    device: DeviceOpt = "auto",
    quiet: QuietOpt = False,
) -> None:
    """Score samples against a reference: energy distance, MMD^2 and sliced W2, each with
    its floor (the same metric between two reference draws) and the ratio.

    A sequence model is scored on held-out series instead: imputation, forecasts and (for
    lorenz) latent recovery, each beside a simple baseline.

    Example: alternators sample -c runs/pinwheel/model.pt \\
      | alternators evaluate --samples - --reference pinwheel
    """
    from alternators_cli import engine, evaluation
    from alternators_cli.data import check_distribution_table, draw_builtin, read_table
    from alternators_cli.files import atomic_write_bytes, check_writable_target
    from alternators_cli.plots import samples_vs_reference_png
    from alternators_cli.sources import reference_from_spec

    if (checkpoint_spec is None) == (samples_spec is None):
        raise BadInput("give exactly one of --checkpoint or --samples")
    if plot is not None:
        check_writable_target(plot)
    ckpt = load_checkpoint(checkpoint_spec, device, kind=None) if checkpoint_spec else None
    if ckpt is not None and ckpt.payload["kind"] == "sequence":
        if reference_spec is not None:
            raise BadInput("--reference is for distributions; a sequence model is scored on "
                           "--input (or its held-out part)")
        evaluate_sequence_checkpoint(ckpt, input_spec, as_json, horizon, season, seed, plot)
        return
    if input_spec is not None:
        raise BadInput("--input is for sequence models: give --reference for a distribution")
    if reference_spec is not None:
        reference = reference_from_spec(reference_spec)
    elif ckpt is not None:
        reference = ckpt.reference()
        if reference is None:
            raise BadInput("the checkpoint keeps no held-out data: give --reference")
    else:
        raise BadInput("--samples needs --reference (a built-in set name or a file)")
    if ckpt is not None:
        if ckpt.dim != reference.dim:
            raise BadInput(
                f"checkpoint makes {ckpt.dim}-D points but the reference has "
                f"{reference.dim} columns"
            )
        cap = reference.max_n()
        count = n if cap is None else min(n, cap)
        # The samples, 7 reference draws of n points, and blocks of pairwise distances.
        refuse_above_memory(8.0 * count * ckpt.dim * 10 + 4.0 * 2048 * count * 3,
                            f"evaluate -n {n}", "compare fewer points (-n)")
        points = engine.sample(ckpt.model, ckpt.normalizer, count, seed)
        source, columns = f"{count} samples of {checkpoint_spec}", ckpt.columns
    else:
        table = read_table(samples_spec, sys.stdin.buffer if samples_spec == "-" else None)
        points = check_distribution_table(table, min_rows=2)
        source = "stdin samples" if samples_spec == "-" else f"samples {samples_spec}"
        columns = table.columns
    baselines = None if ckpt is None else ckpt.baseline_samples(reference, len(points), seed)
    result = evaluation.report(points, reference, n, seed, baselines=baselines)
    if plot is not None:  # before the report: a failed write leaves no half-done output
        ref_points = (
            draw_builtin(reference.name, result["n"], seed + 1)
            if reference.builtin else reference.points
        )
        png = samples_vs_reference_png(points, ref_points, columns, title=source)
        atomic_write_bytes(plot, png)
        say(f"plot written to {plot}")
    print_report(result, as_json, source)


def final_evaluation(model_path: Path, as_json: bool) -> None:
    ckpt = load_checkpoint(str(model_path), kind=None)
    if ckpt.payload["kind"] == "sequence":
        try:
            evaluate_sequence_checkpoint(ckpt, None, as_json)
        except BadInput as exc:  # the run itself succeeded: say why it is not scored
            warn(f"no evaluation: {exc}")
        return
    reference = ckpt.reference()
    if reference is None:
        kept = 0 if ckpt.heldout is None else len(ckpt.heldout)
        warn(f"no evaluation: {kept} held-out row(s), at least 4 are needed (more rows, or "
             "a larger --heldout)")
        return
    from alternators_cli import engine, evaluation

    n = 5000 if reference.max_n() is None else min(5000, reference.max_n())
    samples = engine.sample(ckpt.model, ckpt.normalizer, n, seed=12345)
    result = evaluation.report(samples, reference, n, seed=0,
                               baselines=ckpt.baseline_samples(reference, n, seed=12345))
    print_report(result, as_json, source=f"{n} fresh samples")


# ---- sequence models --------------------------------------------------------------

DEFAULT_HORIZON = 20


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
