"""`evaluate`: score a checkpoint's samples (or a file of samples) against a reference; a
sequence model on held-out series (evaluate_series.py). Also the evaluation `train`
prints at the end."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from alternators_cli.cli import evaluate_series
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
from alternators_cli.cli.report import print_report
from alternators_cli.errors import BadInput


@dataclass
class EvaluateOptions:
    """What `evaluate` was given beside the checkpoint; each kind refuses what it does not
    read."""

    reference: str | None
    input: str | None
    n: int
    seed: int
    as_json: bool
    plot: Path | None
    horizon: int | None
    season: int | None


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
    """Score samples against a reference, or a sequence model on held-out series.

    Distributions: energy distance, MMD^2 and sliced W2, each with its floor (the same
    metric between two reference draws) and the ratio.

    A sequence model is scored on held-out series instead: imputation, forecasts and (for
    lorenz) latent recovery, each beside a simple baseline.

    Example: alternators sample -c runs/pinwheel/model.pt \\
      | alternators evaluate --samples - --reference pinwheel
    """
    from alternators_cli.files import check_writable_target

    if (checkpoint_spec is None) == (samples_spec is None):
        raise BadInput("give exactly one of --checkpoint or --samples")
    if plot is not None:
        check_writable_target(plot)
    options = EvaluateOptions(reference_spec, input_spec, n, seed, as_json, plot, horizon,
                              season)
    if checkpoint_spec is None:
        evaluate_samples(samples_spec, options)
        return
    ckpt = load_checkpoint(checkpoint_spec, device, kind=None)
    CHECKPOINT_EVALUATION[ckpt.kind](ckpt, options)


def evaluate_samples(samples_spec: str, options: EvaluateOptions) -> None:
    """`evaluate --samples FILE --reference R`."""
    from alternators_cli.data import check_distribution_table, match_columns, read_table

    refuse_series_options(options)
    if options.reference is None:
        raise BadInput("--samples needs --reference (a built-in set name or a file)")
    table = read_table(samples_spec, sys.stdin.buffer if samples_spec == "-" else None)
    source = "stdin samples" if samples_spec == "-" else f"samples {samples_spec}"
    reference = reference_of(options)
    if reference.columns is not None:
        table = match_columns(table, reference.columns, source)
    points = check_distribution_table(table, min_rows=2)
    score(points, reference, None, options, source, table.columns)


def evaluate_distribution_checkpoint(ckpt, options: EvaluateOptions) -> None:
    """`evaluate -c` of a distribution model: fresh samples against --reference, else the
    model's own built-in set or held-out part, beside the model's baselines."""
    from alternators_cli import engine

    refuse_series_options(options)
    reference = reference_of(options, ckpt)
    if ckpt.dim != reference.dim:
        raise BadInput(
            f"checkpoint makes {ckpt.dim}-D points but the reference has "
            f"{reference.dim} columns"
        )
    n, cap = options.n, reference.max_n()
    count = n if cap is None else min(n, cap)
    # The samples, 7 reference draws of n points, and blocks of pairwise distances.
    refuse_above_memory(8.0 * count * ckpt.dim * 10 + 4.0 * 2048 * count * 3,
                        f"evaluate -n {n}", "compare fewer points (-n)")
    points = engine.sample(ckpt.model, ckpt.normalizer, count, options.seed)
    baselines = ckpt.baseline_samples(reference, len(points), options.seed)
    score(points, reference, baselines, options, f"{count} samples of {ckpt.path}",
          ckpt.columns)


def refuse_series_options(options: EvaluateOptions) -> None:
    if options.input is not None:
        raise BadInput("--input is for sequence models: give --reference for a distribution")


def reference_of(options: EvaluateOptions, ckpt=None):
    from alternators_cli.sources import reference_from_spec

    if options.reference is not None:
        return reference_from_spec(options.reference, ckpt.columns if ckpt else None)
    reference = ckpt.reference()
    if reference is None:
        raise BadInput("the checkpoint keeps no held-out data: give --reference")
    return reference


def score(points, reference, baselines, options: EvaluateOptions, source: str,
          columns: list[str]) -> None:
    from alternators_cli import evaluation
    from alternators_cli.datasets import draw_builtin
    from alternators_cli.files import atomic_write_bytes
    from alternators_cli.plots import samples_vs_reference_png

    result = evaluation.report(points, reference, options.n, options.seed,
                               baselines=baselines)
    if options.plot is not None:  # before the report: a failed write leaves no half-done output
        ref_points = (
            draw_builtin(reference.name, result["n"], options.seed + 1)
            if reference.builtin else reference.points
        )
        png = samples_vs_reference_png(points, ref_points, columns, title=source)
        atomic_write_bytes(options.plot, png)
        say(f"plot written to {options.plot}")
    print_report(result, options.as_json, source)


def final_evaluation(model_path: Path, as_json: bool) -> None:
    """What `train` prints at the end of a run."""
    ckpt = load_checkpoint(str(model_path), kind=None)
    FINAL_EVALUATION[ckpt.kind](ckpt, as_json)


def final_distribution_evaluation(ckpt, as_json: bool) -> None:
    from alternators_cli import engine, evaluation

    reference = ckpt.reference()
    if reference is None:
        kept = 0 if ckpt.heldout is None else len(ckpt.heldout)
        warn(f"no evaluation: {kept} held-out row(s), at least 4 are needed (more rows, or "
             "a larger --heldout)")
        return
    n = 5000 if reference.max_n() is None else min(5000, reference.max_n())
    samples = engine.sample(ckpt.model, ckpt.normalizer, n, seed=12345)
    result = evaluation.report(samples, reference, n, seed=0,
                               baselines=ckpt.baseline_samples(reference, n, seed=12345))
    print_report(result, as_json, source=f"{n} fresh samples")


# Each kind's scoring, chosen once by the checkpoint's kind.
CHECKPOINT_EVALUATION = {"distribution": evaluate_distribution_checkpoint,
                         "sequence": evaluate_series.evaluate_checkpoint}
FINAL_EVALUATION = {"distribution": final_distribution_evaluation,
                    "sequence": evaluate_series.final_evaluation}
