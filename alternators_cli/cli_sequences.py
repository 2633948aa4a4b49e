"""Sequence commands: `impute`, `forecast`, and the sequence side of `sample`, `evaluate`
and `animate`. Registered on the same Typer app as the rest of the command line."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table as RichTable

from alternators_cli.cli import (
    CheckpointOpt,
    DeviceOpt,
    Format,
    OutputOpt,
    SeedOpt,
    app,
    finite_or_null,
    handle_errors,
    is_stdout,
    load_checkpoint,
    open_output,
    refuse_above_memory,
)
from alternators_cli.errors import BadInput

BandOpt = Annotated[
    float | None,
    typer.Option("--band", min=0.01, max=0.99,
                 help="Central probability of the lower/upper band columns, e.g. 0.9."),
]
InputOpt = Annotated[
    str,
    typer.Option("--input", "-i", show_default=False,
                 help="Series: CSV (rows = time, empty or NaN = missing), .npy [N, T, D] "
                      "or [T, D], or - for CSV on stdin."),
]
SeqFormatOpt = Annotated[
    Format | None,
    typer.Option("--format", help="Output format [default: npy for a .npy input, else csv]."),
]


def read_input(spec: str, ckpt) -> tuple[np.ndarray, list[str]]:
    from alternators_cli.data import read_sequences

    values, columns = read_sequences(spec, sys.stdin.buffer if spec == "-" else None)
    if values.shape[2] != ckpt.dim:
        raise BadInput(
            f"--input {spec} has {values.shape[2]} channels but the model was trained on "
            f"{ckpt.dim}"
        )
    return values, columns


def draws_memory(ckpt, draws: int, series: int, steps: int) -> float:
    """Bytes that `draws` passes over (series, steps) hold at once: every draw's x and z
    (float32), gathered and then joined (twice), plus a quarter for the pieces' burn-in."""
    width = ckpt.dim + int(ckpt.model.config.latent_dim)
    return 4.0 * draws * series * steps * width * 2 * 1.25


def output_is_npy(fmt: Format | None, input_spec: str) -> bool:
    if fmt is not None:
        return fmt is Format.npy
    return input_spec.lower().endswith(".npy")


def sample_sequences(ckpt, n: int, length: int | None, seed: int, npy: bool, output) -> None:
    from alternators_cli import output as enc
    from alternators_cli.sequences import sample_path_chunks

    length = length or int(ckpt.settings["window"])
    with open_output(output, npy) as out:  # streamed, a chunk of paths at a time
        if npy:
            out.write(enc.npy_header((n, length, ckpt.dim)))
        else:
            out.write(enc.csv_header(["path", "t", *ckpt.columns]))
        for first, paths in sample_path_chunks(ckpt.model, ckpt.normalizer, n, length, seed):
            if npy:
                out.write(paths.astype("<f4").tobytes())
                continue
            index = enc.grid_index(len(paths), length) + [first, 0]
            out.write(enc.csv_rows(paths.reshape(-1, ckpt.dim), index=index))


@app.command()
@handle_errors
def impute(
    checkpoint_spec: CheckpointOpt,
    input_spec: InputOpt,
    n: Annotated[int, typer.Option("-n", "--num", min=1, max=100_000,
                                   help="Sampled completions; each gap gets their median.")] = 50,
    output: OutputOpt = None,
    band: BandOpt = None,
    fmt: SeqFormatOpt = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "cpu",
) -> None:
    """Fill the missing cells of a series with the median of n sampled completions.

    Observed cells come back unchanged; CSV keeps the input's columns and row order, and
    --band adds <column>_lower and <column>_upper (an .npy input of several series gets a
    leading series column). npy: [N, T, D], or with --band [3, N, T, D] (median, lower,
    upper).

    Example: alternators impute -c runs/lorenz/model.pt --input gappy.csv --band 0.9 -o filled.csv
    """
    from alternators_cli import output as enc
    from alternators_cli.sequences import impute as impute_values

    ckpt = load_checkpoint(checkpoint_spec, device, kind="sequence")
    values, columns = read_input(input_spec, ckpt)
    refuse_above_memory(draws_memory(ckpt, n, values.shape[0], values.shape[1]),
                        f"impute -n {n}", "use fewer completions (-n) or a shorter input")
    npy = output_is_npy(fmt, input_spec)
    result = impute_values(ckpt.model, ckpt.normalizer, values, n, seed, band)
    missing = int(np.isnan(values).sum())
    with open_output(output, npy) as out:
        if npy:
            parts = [result["median"]] + ([result["lower"], result["upper"]] if band else [])
            out.write(enc.npy_bytes(np.stack(parts) if band else parts[0]))
        else:
            N, T = values.shape[:2]
            names = (["series"] if N > 1 else []) + list(columns)
            blocks = [result["median"].reshape(-1, ckpt.dim)]
            if band is not None:
                names += [f"{c}_lower" for c in columns] + [f"{c}_upper" for c in columns]
                blocks += [result["lower"].reshape(-1, ckpt.dim),
                           result["upper"].reshape(-1, ckpt.dim)]
            index = enc.grid_index(N, T)[:, :1] if N > 1 else None
            out.write(enc.csv_header(names))
            out.write(enc.csv_rows(np.hstack(blocks), index=index))
    print(f"filled {missing} missing cell(s) with the median of {n} completions",
          file=sys.stderr)


@app.command()
@handle_errors
def forecast(
    checkpoint_spec: CheckpointOpt,
    input_spec: InputOpt,
    horizon: Annotated[int, typer.Option("--horizon", "-H", min=1, max=1_000_000,
                                         help="Steps to forecast after the input.")],
    n: Annotated[int, typer.Option("-n", "--num", min=1, max=100_000,
                                   help="Sampled paths.")] = 100,
    output: OutputOpt = None,
    band: Annotated[
        float, typer.Option("--band", min=0.01, max=0.99,
                            help="Central probability of the lower/upper band columns.")
    ] = 0.9,
    fmt: Annotated[
        Format, typer.Option("--format", help="csv: median and band per channel; npy: all "
                                              "paths, (n, H, D), or (n, N, H, D) for N series.")
    ] = Format.csv,
    seed: SeedOpt = 0,
    device: DeviceOpt = "cpu",
) -> None:
    """Forecast the next --horizon rows of a series (missing cells in it are fine).

    Example: alternators forecast -c runs/lorenz/model.pt --input recent.csv -H 20 -o next.csv
    """
    from alternators_cli import output as enc
    from alternators_cli.sequences import band_quantiles
    from alternators_cli.sequences import forecast as forecast_paths

    ckpt = load_checkpoint(checkpoint_spec, device, kind="sequence")
    history, columns = read_input(input_spec, ckpt)
    N, T = history.shape[:2]
    refuse_above_memory(draws_memory(ckpt, n, N, T + horizon) + 16.0 * n * N * horizon
                        * ckpt.dim, f"forecast -n {n} -H {horizon}",
                        "forecast fewer steps (-H) or fewer paths (-n)")
    paths = forecast_paths(ckpt.model, ckpt.normalizer, history, horizon, n, seed)  # (n,N,H,D)
    N = history.shape[0]
    with open_output(output, fmt is Format.npy) as out:
        if fmt is Format.npy:
            out.write(enc.npy_bytes(paths[:, 0] if N == 1 else paths))
            return
        lo, hi = band_quantiles(band)
        median = np.median(paths, axis=0)  # (N, H, D)
        lower, upper = np.quantile(paths, [lo, hi], axis=0)
        names = [c + suffix for c in columns for suffix in ("", "_lower", "_upper")]
        index = ["series", "step"] if N > 1 else ["step"]
        out.write(enc.csv_header(index + names))
        interleaved = np.stack([median, lower, upper], axis=-1).reshape(N * horizon, -1)
        rows = enc.grid_index(N, horizon) + [0, 1]  # (series, step), steps from 1
        out.write(enc.csv_rows(interleaved, index=rows if N > 1 else rows[:, 1:]))


def evaluate_sequence_checkpoint(
    ckpt, input_spec: str | None, as_json: bool, horizon: int = 20,
    season: int | None = None, seed: int = 0,
) -> None:
    from alternators_cli import sequences as sq

    length = int(ckpt.settings["window"]) + horizon
    refuse_above_memory(draws_memory(ckpt, 100, sq.EVAL_SEGMENTS, length),  # at most
                        f"evaluate --horizon {horizon}", "score a shorter --horizon")
    states = None
    if input_spec is not None:
        values, _ = read_input(input_spec, ckpt)
        source = f"--input {input_spec}"
    elif ckpt.data.get("builtin"):
        values, states = sq.lorenz_heldout(sq.EVAL_SEGMENTS, length, seed)
        source = f"fresh {ckpt.data['name']} trajectories"
    elif ckpt.heldout is not None:
        values, source = ckpt.heldout, f"held-out part of {ckpt.data['name']}"
    else:
        raise BadInput("the checkpoint keeps no held-out series: give --input")
    segs = sq.segments(values, length)
    if len(segs) < 2:
        short = min(length, values.shape[1])
        segs = sq.segments(values, short)
        if len(segs) < 2 or short <= horizon + 1:
            raise BadInput(
                f"{source} is too short to score: need 2 segments of {length} steps "
                f"(training window + --horizon {horizon}); give a longer series or a "
                "smaller --horizon"
            )
    if season is None:
        # Detected on the whole series (segments are too short to show a season), up to
        # the longest season the segments' history can repeat.
        from alternators_cli.sequence_metrics import detect_season

        season = detect_season(values, max_lag=segs.shape[1] - horizon)
    result = sq.evaluate(ckpt.model, ckpt.normalizer, segs, seed, horizon=horizon,
                         season=season, states=states)
    result["source"] = source
    print_sequence_report(result, as_json)


def print_sequence_report(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(finite_or_null(result), indent=2, allow_nan=False))
        return
    console = Console(width=110)
    table = RichTable(title=f"imputation on {result['source']} ({result['segments']} segments "
                            f"of {result['length']} steps)")
    for col in ("missing", "pattern", "MAE", "linear interp. MAE", "ratio", "MSE",
                "linear interp. MSE", "90% band cover"):
        table.add_column(col, justify="right")
    for r in result["imputation"]:
        table.add_row(f"{r['missing']:.0%}", r["pattern"], f"{r['mae']:.4g}",
                      f"{r['linear_mae']:.4g}", f"{r['mae_ratio']:.2f}", f"{r['mse']:.4g}",
                      f"{r['linear_mse']:.4g}", f"{r['band_coverage']:.2f}")
    console.print(table)
    fc = result["forecast"]
    table = RichTable(title=f"forecast at horizon {fc['horizon']} (90 % band covers "
                            f"{fc['band_coverage']:.0%} of the truth)")
    for col in ("model", "MAE", "CRPS"):
        table.add_column(col, justify="right")
    table.add_row("alternator", f"{fc['mae']:.4g}", f"{fc['crps']:.4g}")
    table.add_row("persistence", f"{fc['persistence_mae']:.4g}", f"{fc['persistence_crps']:.4g}")
    if "seasonal_naive_mae" in fc:
        table.add_row(f"seasonal naive ({fc['season']})", f"{fc['seasonal_naive_mae']:.4g}",
                      f"{fc['seasonal_naive_crps']:.4g}")
    console.print(table)
    if "latent_correlation" in result:
        corr = ", ".join(f"{c:.3f}" for c in result["latent_correlation"])
        console.print(f"latent recovery (Pearson r per true state dimension): {corr}")


def animate_sequence(ckpt, output: str, fps: float, seed: int) -> None:
    from alternators_cli.plots import encode_gif, sequence_frames
    from alternators_cli.sequences import run_draws

    length = 2 * int(ckpt.settings["window"])
    empty = np.full((1, length, ckpt.dim), np.nan, dtype=np.float32)
    x, z = run_draws(ckpt.model, ckpt.normalizer, empty, 1, seed)
    images = sequence_frames(x[0, 0], z[0, 0], ckpt.columns, ckpt.data["name"])
    with open_output(output, binary_format=True) as out:
        out.write(encode_gif(images, fps * 4, hold_last=max(1, int(fps))))
    if not is_stdout(output):
        print(f"wrote {len(images)} frames to {output}", file=sys.stderr)



