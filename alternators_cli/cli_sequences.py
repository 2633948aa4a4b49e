"""Sequence commands: `impute`, `forecast`, and the sequence side of `sample`, `evaluate`
and `animate`. Registered on the same Typer app as the rest of the command line."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
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
                 help="Series: CSV (rows = time, empty or NaN = missing; a header names the "
                      "channels, an ISO date column gives the times), .npy [N, T, D] or "
                      "[T, D], or - for CSV on stdin."),
]
SeqFormatOpt = Annotated[
    Format | None,
    typer.Option("--format", help="Output format [default: npy for a .npy input, else csv]."),
]
QuantilesOpt = Annotated[
    str | None,
    typer.Option("--quantiles", "-q", show_default=False,
                 help="Quantiles of the draws, e.g. 0.05,0.5,0.95: a <channel>_q<p> column "
                      "each, after the channel's own column."),
]
TimeColumnOpt = Annotated[
    str | None,
    typer.Option("--time-column", show_default="a column of ISO dates or timestamps",
                 help="The column of the rows' times (plain years too, when named)."),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="The same table as JSON: {columns, rows: [{...}]}.")
]
IdColumnOpt = Annotated[
    str | None,
    typer.Option("--id-column", show_default="the one text column beside a time column",
                 help="Several series in one file (long format): the column naming each "
                      "row's series."),
]
PlotOpt = Annotated[
    Path | None, typer.Option("--plot", help="Also write a PNG picture of the result.")
]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_quantiles(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise BadInput(f"--quantiles {text}: expected numbers such as 0.05,0.5,0.95") from None
    if not values or any(not 0 < v < 1 for v in values):
        raise BadInput(f"--quantiles {text}: each quantile must lie strictly between 0 and 1")
    return sorted(set(values))


def quantile_name(column: str, q: float) -> str:
    return f"{column}_q{q:g}"


@dataclass
class Input:
    """A series read for a model: values in the model's channel order, and how to give
    results back in the input's order and names."""

    values: np.ndarray  # (N, T, D), the model's channel order
    columns: list[str]  # the input's names, in the input's order
    order: list[int]  # output channel k is model channel order[k]
    time: object = None  # timeindex.TimeIndex or None
    notes: list[str] = field(default_factory=list)  # to say once the input is accepted
    ids: list[str] | None = None  # several dated series in one file: their names
    id_name: str | None = None
    spans: list[tuple[int, int]] | None = None  # grid steps [start, stop) of each series

    def say_notes(self) -> None:
        for note in self.notes:
            say(note)

    def to_input_order(self, a: np.ndarray) -> np.ndarray:
        return a[..., self.order]


def read_input(spec: str, ckpt, time_column: str | None = None,
               id_column: str | None = None) -> Input:
    """The series of --input, its channels matched to the model's: by name when both the
    file and the model have names (any order), else by position."""
    from alternators_cli.data import default_columns
    from alternators_cli.timeindex import read_series

    series = read_series(spec, sys.stdin.buffer if spec == "-" else None, time_column,
                         id_column)
    values, columns = series.values, list(series.columns)
    model = ckpt.columns
    named_model = model != default_columns(ckpt.dim)
    if series.has_header and named_model:
        doubled = sorted({c for c in columns if columns.count(c) > 1})
        if doubled:
            raise BadInput(f"--input {spec}: channel name(s) {', '.join(map(repr, doubled))} "
                           "appear more than once in the header")
        unknown = [c for c in columns if c not in model]
        missing = [c for c in model if c not in columns]
        if unknown or missing:
            parts = []
            if unknown:
                parts.append(f"unknown channel(s) {', '.join(map(repr, unknown))}")
            if missing:
                parts.append(f"missing channel(s) {', '.join(map(repr, missing))}")
            raise BadInput(
                f"--input {spec} has {len(columns)} channels ({', '.join(columns)}) but the "
                f"model was trained on {len(model)} ({', '.join(model)}): "
                f"{' and '.join(parts)}"
            )
        values = values[:, :, [columns.index(c) for c in model]]
        order = [model.index(c) for c in columns]
    else:
        if values.shape[2] != ckpt.dim:
            raise BadInput(
                f"--input {spec} has {values.shape[2]} channels but the model was trained on "
                f"{ckpt.dim}"
            )
        order = list(range(ckpt.dim))
        if not series.has_header:  # by position: the model's names
            columns = list(model)
    return Input(values, columns, order, series.time, series.notes, series.ids,
                 series.id_name, series.spans)


def training_series(spec: str, settings) -> tuple[np.ndarray, list[str], list[str]]:
    """A user's series for `train` (the time column, if any, is not a channel), and notes
    to say once training starts. Without --window, a series too short for the default
    window gets a shorter one."""
    from alternators_cli.timeindex import describe, read_series

    series = read_series(spec, sys.stdin.buffer if spec == "-" else None)
    notes = list(series.notes)
    if series.time is not None:
        notes.insert(0, f"time column {series.time.name!r}: {describe(series.time)}")
    T = series.values.shape[1]
    train_steps = T - (int(round(T * settings.heldout)) if settings.heldout > 0 else 0)
    default = settings.window
    if "window" not in settings.model_fields_set and train_steps < SHORT_SERIES * default:
        shortest = max(MIN_WINDOW, 3 * (settings.season or 0))  # a few seasons
        settings.window = max(2, min(train_steps, max(shortest, train_steps // SHORT_SERIES)))
        notes.append(f"--window {settings.window} for {train_steps} training steps (the "
                     f"default {default} wants {SHORT_SERIES * default} or more; give "
                     "--window to choose)")
    short = train_steps < SHORT_SERIES * type(settings).model_fields["window"].default
    if short and "epoch_size" not in settings.model_fields_set:
        settings.epoch_size = SHORT_EPOCH
        notes.append(f"--epoch-size {SHORT_EPOCH} for a short series (give --epoch-size to "
                     "choose)")
    season = settings.season
    if season is not None and season >= settings.window:
        raise BadInput(f"--season {season} needs a --window longer than the season (it is "
                       f"{settings.window}): give a larger --window or a shorter series season")
    return series.values, series.columns, notes


SHORT_SERIES = 4  # a series shorter than this many default windows gets a shorter window
SHORT_EPOCH = 1024  # ... and epochs of this many windows: it trains in well under a minute
MIN_WINDOW = 8


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

    length = length or ckpt.settings.window
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


# ---- tables: one layout for CSV and JSON ------------------------------------------------


@dataclass
class OutTable:
    """Rows of a result: leading text columns (series id, time), leading integer columns
    (series, step), then float columns. Written as CSV or as JSON with the same numbers."""

    index_names: list[str]
    index: np.ndarray | None  # (R, k) int
    text_names: list[str]
    text: list[list[str]] | None  # per row, one cell per text column
    names: list[str]
    values: np.ndarray  # (R, C)

    def header(self) -> list[str]:
        return self.text_names + self.index_names + self.names

    def csv(self) -> bytes:
        import csv
        import io

        from alternators_cli import output as enc

        body = enc.csv_rows(self.values, index=self.index)
        if self.text is not None:
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="")
            lines = body.decode().splitlines()
            out = []
            for cells, line in zip(self.text, lines, strict=True):
                buf.seek(0)
                buf.truncate()
                writer.writerow(cells)
                out.append(f"{buf.getvalue()},{line}\n")
            body = "".join(out).encode()
        return enc.csv_header(self.header()) + body

    def json(self, meta: dict) -> bytes:
        from alternators_cli.output import FLOAT_FORMAT

        rows = []
        for r in range(len(self.values)):
            row: dict = {}
            if self.text is not None:
                row.update(zip(self.text_names, self.text[r], strict=True))
            if self.index is not None:
                row.update(zip(self.index_names, map(int, self.index[r]), strict=True))
            for name, v in zip(self.names, self.values[r], strict=True):
                row[name] = float(FLOAT_FORMAT % v) if np.isfinite(v) else None
            rows.append(row)
        doc = {**meta, "columns": self.header(), "rows": rows}
        return (json.dumps(doc, indent=1, allow_nan=False) + "\n").encode()


def result_table(given: Input, block: np.ndarray, names: list[str], future=None,
                 ) -> OutTable:
    """The rows of `block` (N * T', C), series-major, labelled for the input: by series id
    and time (several dated series), time (one dated series), or integer series / step."""
    from alternators_cli import output as enc

    N = given.values.shape[0]
    time = given.time
    rows = block.shape[0] // N
    if time is not None:
        labels = time.format(future) if future is not None else time.format()
        if given.ids is not None:
            keep, text = [], []
            for n, name in enumerate(given.ids):
                start, stop = (0, rows) if future is not None else given.spans[n]
                keep += list(range(n * rows + start, n * rows + stop))
                text += [[name, labels[t]] for t in range(start, stop)]
            return OutTable([], None, [given.id_name, time.name], text, names, block[keep])
        return OutTable([], None, [time.name], [[t] for t in labels], names, block)
    if future is not None:  # forecast steps, from 1
        index = enc.grid_index(N, rows) + [0, 1]
        return OutTable(["series", "step"] if N > 1 else ["step"],
                        index if N > 1 else index[:, 1:], [], None, names, block)
    return OutTable(["series"] if N > 1 else [], enc.grid_index(N, rows)[:, :1] if N > 1
                    else None, [], None, names, block)


def write_table(table: OutTable, output, as_json: bool, meta: dict) -> None:
    with open_output(output, False) as out:
        out.write(table.json(meta) if as_json else table.csv())


def write_plot(plot: Path, png: bytes) -> None:
    from alternators_cli.files import atomic_write_bytes

    atomic_write_bytes(plot, png)
    say(f"wrote {plot}")


def check_plot_target(plot: Path | None) -> None:
    if plot is None:
        return
    from alternators_cli.files import check_writable_target

    if plot.suffix.lower() != ".png":
        raise BadInput(f"--plot {plot}: the picture is a PNG; give a .png file name")
    check_writable_target(plot)


def series_name(given: Input) -> str:
    return repr(given.ids[0]) if given.ids else "0"


def time_meta(given: Input) -> dict:
    time = given.time
    meta = {"time_column": None, "frequency": None} if time is None else {
        "time_column": time.name,
        "frequency": time.frequency.name if time.frequency else "irregular"}
    if given.ids is not None:
        meta.update(id_column=given.id_name, series=list(given.ids))
    return meta


def _x_axis(time, length: int, offset: int = 0):
    return time.times if time is not None else np.arange(offset, offset + length)


@app.command()
@handle_errors
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
    device: DeviceOpt = "cpu",
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
    npy = output_is_npy(fmt, input_spec) and not as_json
    if as_json and fmt is Format.npy:
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
                                    _x_axis(given.time, T), columns, title,
                                    f"central {plot_band:.0%} of {n} completions"))


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
        float | None, typer.Option("--band", min=0.01, max=0.99, show_default="0.9",
                                   help="Central probability of the lower/upper band columns.")
    ] = None,
    quantiles: QuantilesOpt = None,
    as_json: JsonOpt = False,
    plot: PlotOpt = None,
    time_column: TimeColumnOpt = None,
    id_column: IdColumnOpt = None,
    fmt: Annotated[
        Format, typer.Option("--format", help="csv: median and band per channel; npy: all "
                                              "paths, (n, H, D), or (n, N, H, D) for N series.")
    ] = Format.csv,
    seed: SeedOpt = 0,
    device: DeviceOpt = "cpu",
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
        hist_x = _x_axis(given.time, T)
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


# ---- evaluate ---------------------------------------------------------------------------

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


def print_sequence_report(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(finite_or_null(result), indent=2, allow_nan=False))
        return
    console = Console(width=110)
    hidden = result.get("hidden_from_step", 1)
    where = f", cells hidden from step {hidden} on" if hidden > 1 else ""
    table = RichTable(title=f"imputation on {result['source']} ({result['segments']} segments "
                            f"of {result['length']} steps{where})")
    for col in ("missing", "pattern", "MAE", "linear interp. MAE", "ratio", "MSE",
                "linear interp. MSE", "90% band cover"):
        table.add_column(col, justify="right")
    for r in result["imputation"]:
        table.add_row(f"{r['missing']:.0%}", r["pattern"], f"{r['mae']:.4g}",
                      f"{r['linear_mae']:.4g}", f"{r['mae_ratio']:.2f}", f"{r['mse']:.4g}",
                      f"{r['linear_mse']:.4g}", f"{r['band_coverage']:.2f}")
    console.print(table)
    fc = result["forecast"]
    how = (f", backtest from {fc['origins']} origins" if fc.get("method") == "rolling origin"
           else "")
    table = RichTable(title=f"forecast at horizon {fc['horizon']}{how} (90 % band covers "
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

    length = 2 * ckpt.settings.window
    empty = np.full((1, length, ckpt.dim), np.nan, dtype=np.float32)
    x, z = run_draws(ckpt.model, ckpt.normalizer, empty, 1, seed)
    images = sequence_frames(x[0, 0], z[0, 0], ckpt.columns, ckpt.data["name"])
    with open_output(output, binary_format=True) as out:
        out.write(encode_gif(images, fps * 4, hold_last=max(1, int(fps))))
    if not is_stdout(output):
        print(f"wrote {len(images)} frames to {output}", file=sys.stderr)



