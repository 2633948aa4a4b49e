"""`impute` and `forecast`: a sequence model fills a series' gaps or continues it."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import typer

from alternators_cli.cli.common import (
    CheckpointOpt,
    DeviceOpt,
    Format,
    OutputOpt,
    QuietLongOpt,
    SeedOpt,
    load_checkpoint,
    open_output,
    output_format,
    refuse_above_memory,
    say,
)
from alternators_cli.cli.series_io import (
    BandOpt,
    IdColumnOpt,
    InputOpt,
    JsonOpt,
    PlotOpt,
    QuantilesOpt,
    SeqFormatOpt,
    TimeColumnOpt,
    check_plot_target,
    draws_memory,
    output_is_npy,
    parse_quantiles,
    quantile_name,
    read_input,
    result_table,
    series_name,
    time_meta,
    write_plot,
    write_table,
    x_axis,
)
from alternators_cli.errors import BadInput


def npy_named(output: str | None) -> bool:
    return output_format(None, output) is Format.npy


def impute(
    checkpoint_spec: CheckpointOpt,
    input_spec: InputOpt,
    n: Annotated[int, typer.Option("-n", "--num", min=1, max=100_000,
                                   help="Sampled completions; each gap gets their median.")] = 50,
    output: OutputOpt = None,
    band: BandOpt = None,
    quantiles: QuantilesOpt = None,
    as_json: JsonOpt = False,
    plot: PlotOpt = None,
    time_column: TimeColumnOpt = None,
    id_column: IdColumnOpt = None,
    fmt: SeqFormatOpt = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    quiet: QuietLongOpt = False,
) -> None:
    """Fill the missing cells of a series with the median of n completions.

    Observed cells come back unchanged; CSV keeps the input's channels (matched to the
    model's by header name), row order and times (the time column first). --band adds
    <column>_lower and <column>_upper after all channels; --quantiles 0.05,0.5,0.95 adds
    <column>_q0.05, <column>_q0.5, <column>_q0.95 after each channel (equal to the value
    where it was observed). An .npy input of several series gets a leading series column.
    npy: [N, T, D], or with --band [3, N, T, D] (median, lower, upper), or with --quantiles
    [1 + Q, N, T, D] (values, then each quantile).

    Example: alternators impute -c runs/sales/model.pt --input gappy.csv \\
      --quantiles 0.05,0.5,0.95 -o filled.csv
    """
    from alternators_cli import output as enc
    from alternators_cli.sequences import impute as impute_values

    qs = parse_quantiles(quantiles)
    if band is not None and qs is not None:
        raise BadInput("give --band or --quantiles, not both (--band 0.9 is the columns of "
                       "--quantiles 0.05,0.95, named _lower and _upper)")
    npy = output_is_npy(fmt, output, input_spec) and not as_json
    if as_json and (fmt is Format.npy or npy_named(output)):
        raise BadInput("--json and --format npy: give only one")
    check_plot_target(plot)
    ckpt = load_checkpoint(checkpoint_spec, device, kind="sequence")
    given = read_input(input_spec, ckpt, time_column, id_column)
    given.say_notes()
    values = given.values
    refuse_above_memory(draws_memory(ckpt, n, values.shape[0], values.shape[1]),
                        f"impute -n {n}", "use fewer completions (-n) or a shorter input")
    plot_band = band if band is not None else 0.9
    band_drawn = band if band is not None else (plot_band if plot else None)
    result = impute_values(ckpt.model, ckpt.normalizer, values, n, seed, band=band_drawn,
                           quantiles=qs)
    if band is None and plot:
        result["lower_plot"], result["upper_plot"] = result.pop("lower"), result.pop("upper")
    res = {k: given.to_input_order(v) for k, v in result.items()}
    N, T, D = values.shape
    inside = np.ones(values.shape, dtype=bool)  # cells in the output (each series' span)
    for k, (start, stop) in enumerate(given.spans or []):
        inside[k, :start] = inside[k, stop:] = False
    missing = int((np.isnan(values) & inside).sum())
    columns = given.columns
    if npy:
        parts = [res["median"]]
        if band is not None:
            parts += [res["lower"], res["upper"]]
        if qs:
            parts += list(res["quantiles"])
        with open_output(output, True) as out:
            out.write(enc.npy_bytes(np.stack(parts) if len(parts) > 1 else parts[0]))
    else:
        if qs:
            names = [name for c in columns for name in (c, *(quantile_name(c, q) for q in qs))]
            stacked = np.stack([res["median"], *res["quantiles"]], axis=-1)  # (N,T,D,1+Q)
            block = stacked.reshape(N * T, -1)
        else:
            names = list(columns)
            blocks = [res["median"].reshape(-1, D)]
            if band is not None:
                names += [f"{c}_lower" for c in columns] + [f"{c}_upper" for c in columns]
                blocks += [res["lower"].reshape(-1, D), res["upper"].reshape(-1, D)]
            block = np.hstack(blocks)
        table = result_table(given, block, names)
        meta = {"command": "impute", "draws": n, "quantiles": qs, "band": band,
                "missing_cells": missing, **time_meta(given)}
        write_table(table, output, as_json, meta)
    say(f"filled {missing} missing cell(s) with the median of {n} completions")
    if plot:
        from alternators_cli.plots import impute_png

        lo = res["lower"] if band is not None else res["lower_plot"]
        hi = res["upper"] if band is not None else res["upper_plot"]
        observed = given.to_input_order(values)
        title = f"{ckpt.data['name']} model: {missing} missing cell(s) filled"
        title += f" (series {series_name(given)}, 1 of {N})" if N > 1 else ""
        write_plot(plot, impute_png(observed[0], res["median"][0], lo[0], hi[0],
                                    x_axis(given.time, T), columns, title,
                                    f"central {plot_band:.0%} of {n} completions"))


def forecast(
    checkpoint_spec: CheckpointOpt,
    input_spec: InputOpt,
    horizon: Annotated[int, typer.Option("--horizon", "-H", min=1, max=1_000_000,
                                         help="Steps to forecast after the input.")],
    n: Annotated[int, typer.Option("-n", "--num", min=1, max=100_000,
                                   help="Sampled paths.")] = 100,
    output: OutputOpt = None,
    band: Annotated[
        float | None, typer.Option("--band", min=0.01, max=0.99, show_default="0.9",
                                   help="Central probability of the lower/upper band columns.")
    ] = None,
    quantiles: QuantilesOpt = None,
    as_json: JsonOpt = False,
    plot: PlotOpt = None,
    time_column: TimeColumnOpt = None,
    id_column: IdColumnOpt = None,
    fmt: Annotated[
        Format | None,
        typer.Option("--format", show_default="-o's extension, else csv",
                     help="csv: median and band per channel; npy: all paths, (n, H, D), or "
                          "(n, N, H, D) for N series."),
    ] = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    quiet: QuietLongOpt = False,
) -> None:
    """Forecast the next --horizon rows of a series (missing cells in it are fine).

    CSV: a step column (1..H), or the future times when the input has a time column (at
    its frequency: daily, weekly, monthly, ...); then per channel its median and the
    --band columns <column>_lower, <column>_upper, or with --quantiles its median and
    <column>_q<p> for each quantile (the layout of `impute --quantiles`).

    Example: alternators forecast -c runs/airline/model.pt --input airline.csv -H 24 \\
      --quantiles 0.05,0.5,0.95 --plot fan.png
    """
    from alternators_cli import output as enc
    from alternators_cli.sequences import band_quantiles
    from alternators_cli.sequences import forecast as forecast_paths

    qs = parse_quantiles(quantiles)
    if band is not None and qs is not None:
        raise BadInput("give --band or --quantiles, not both (--band 0.9 is the columns of "
                       "--quantiles 0.05,0.95, named _lower and _upper)")
    fmt = output_format(fmt, output)
    if fmt is Format.npy and (as_json or qs is not None):
        raise BadInput("--format npy holds every sampled path: --json and --quantiles are "
                       "for the CSV table")
    check_plot_target(plot)
    ckpt = load_checkpoint(checkpoint_spec, device, kind="sequence")
    given = read_input(input_spec, ckpt, time_column, id_column)
    history = given.values
    N, T = history.shape[:2]
    refuse_above_memory(draws_memory(ckpt, n, N, T + horizon) + 16.0 * n * N * horizon
                        * ckpt.dim, f"forecast -n {n} -H {horizon}",
                        "forecast fewer steps (-H) or fewer paths (-n)")
    future_times = given.time.future(horizon) if given.time is not None else None
    given.say_notes()
    paths = forecast_paths(ckpt.model, ckpt.normalizer, history, horizon, n, seed)  # (n,N,H,D)
    paths = given.to_input_order(paths)
    N, _, D = history.shape
    columns = given.columns
    median = np.median(paths, axis=0)  # (N, H, D)
    if fmt is Format.npy:
        with open_output(output, True) as out:
            out.write(enc.npy_bytes(paths[:, 0] if N == 1 else paths))
    else:
        if qs:
            names = [name for c in columns for name in (c, *(quantile_name(c, q) for q in qs))]
            stacked = np.concatenate([median[None], np.quantile(paths, qs, axis=0)])
        else:
            lo, hi = band_quantiles(band if band is not None else 0.9)
            names = [c + suffix for c in columns for suffix in ("", "_lower", "_upper")]
            stacked = np.stack([median, *np.quantile(paths, [lo, hi], axis=0)])
        block = np.moveaxis(stacked, 0, -1).reshape(N * horizon, -1)  # channel-major
        future = future_times if future_times is not None else np.arange(horizon)
        table = result_table(given, block, names, future=future)
        meta = {"command": "forecast", "horizon": horizon, "draws": n, "quantiles": qs,
                "band": None if qs else (band if band is not None else 0.9),
                **time_meta(given)}
        write_table(table, output, as_json, meta)
    if plot:
        from alternators_cli.plots import forecast_png

        T = history.shape[1]
        shown = min(T, max(4 * horizon, 48))  # the recent history the fan grows from
        hist_x = x_axis(given.time, T)
        fut_x = future_times if future_times is not None else np.arange(T, T + horizon)
        observed = given.to_input_order(history)[0, -shown:]
        outer = band if band is not None else (0.9 if not qs or qs[0] >= 0.5 else
                                               round(1 - 2 * qs[0], 6))
        bands = []
        for level in sorted({outer, 0.5}, reverse=True):
            lo, hi = band_quantiles(level)
            q_lo, q_hi = np.quantile(paths[:, 0], [lo, hi], axis=0)
            bands.append((q_lo, q_hi, f"central {level:.0%}"))
        title = f"{ckpt.data['name']} model: forecast of {horizon} steps, {n} paths"
        if given.time is not None and given.time.frequency is not None:
            title += f" ({given.time.frequency.name})"
        title += f" (series {series_name(given)}, 1 of {N})" if N > 1 else ""
        write_plot(plot, forecast_png(observed, hist_x[-shown:], fut_x, median[0], bands,
                                      columns, title))
