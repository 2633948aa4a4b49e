"""What `impute`, `forecast` and a sequence model's `evaluate` share: their options, the
input series matched to the model's channels, the result tables (CSV or JSON with the
same numbers) and the pictures."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer

from alternators_cli.cli.common import Format, open_output, output_format, say
from alternators_cli.errors import BadInput

if TYPE_CHECKING:
    from alternators_cli.data import RowLabels

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
    typer.Option("--format", help="Output format.",
                 show_default="-o's extension, else npy for a .npy input, else csv"),
]
QuantilesOpt = Annotated[
    str | None,
    typer.Option("--quantiles", "-q", show_default=False,
                 help="Quantiles of the draws, e.g. 0.05,0.5,0.95: a <channel>_q<p> column "
                      "each, after the channel's own column."),
]
TimeColumnOpt = Annotated[
    str | None,
    typer.Option("--time-column", show_default="the model's, else a column of ISO dates or "
                 "timestamps", help="The column of the rows' times (plain years too, when "
                 "named)."),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="The same table as JSON: {columns, rows: [{...}]}.")
]
IdColumnOpt = Annotated[
    str | None,
    typer.Option("--id-column", show_default="the model's, else the one text column beside "
                 "a time column",
                 help="Several series in one file (long format): the column naming each "
                      "row's series."),
]
PlotOpt = Annotated[
    Path | None, typer.Option("--plot", help="Also write a PNG picture of the result.")
]


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
    row_labels: RowLabels | None = None  # a row index beside the data, written back

    def say_notes(self) -> None:
        for note in self.notes:
            say(note)

    def to_input_order(self, a: np.ndarray) -> np.ndarray:
        return a[..., self.order]


def read_input(spec: str, ckpt, time_column: str | None = None,
               id_column: str | None = None) -> Input:
    """The series of --input, its channels matched to the model's: by name when both the
    file and the model have names (any order), else by position."""
    from alternators_cli.data import default_columns, name_differences, repeated
    from alternators_cli.series_files import read_series

    trained_with = (getattr(ckpt.settings, "time_column", None),
                    getattr(ckpt.settings, "id_column", None))
    series = read_series(spec, sys.stdin.buffer if spec == "-" else None, time_column,
                         id_column, trained_with)
    values, columns = series.values, list(series.columns)
    model = ckpt.columns
    named_model = model != default_columns(ckpt.dim)
    if series.has_header and named_model:
        doubled = repeated(columns)
        if doubled:
            raise BadInput(f"--input {spec}: channel name(s) {', '.join(map(repr, doubled))} "
                           "appear more than once in the header")
        differ = name_differences(columns, model, "channel")
        if differ:
            raise BadInput(
                f"--input {spec} has {len(columns)} channels ({', '.join(columns)}) but the "
                f"model was trained on {len(model)} ({', '.join(model)}): {differ}"
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
                 series.id_name, series.spans, series.row_labels)


def draws_memory(ckpt, draws: int, series: int, steps: int) -> float:
    """Bytes that `draws` passes over (series, steps) hold at once: every draw's x and z
    (float32), gathered and then joined (twice), plus a quarter for the pieces' burn-in."""
    width = ckpt.dim + int(ckpt.model.config.latent_dim)
    return 4.0 * draws * series * steps * width * 2 * 1.25


def output_is_npy(fmt: Format | None, output: str | None, input_spec: str) -> bool:
    """npy by -o's extension or --format, else by the input's (a .npy input: npy)."""
    default = Format.npy if input_spec.lower().endswith(".npy") else Format.csv
    return output_format(fmt, output, default) is Format.npy


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
    if given.row_labels is not None:  # the input's rows, under their own index
        labels = given.row_labels
        return OutTable([], None, [labels.name], [[cell] for cell in labels.cells], names,
                        block)
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


def x_axis(time, length: int, offset: int = 0):
    return time.times if time is not None else np.arange(offset, offset + length)
