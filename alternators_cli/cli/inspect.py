"""`datasets`, `data` and `info`: what there is to train on, and what a checkpoint holds."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from alternators_cli.cli.common import (
    CheckpointOpt,
    CountOpt,
    Format,
    FormatOpt,
    JsonOpt,
    OutputOpt,
    SeedOpt,
    load_checkpoint,
    open_output,
    output_format,
    refuse_above_memory,
)


def datasets(as_json: JsonOpt = False) -> None:
    """List the built-in data sets.

    Example: alternators datasets --json
    """
    from alternators_cli.checkpoint import pretrained_names
    from alternators_cli.cli.report import print_datasets
    from alternators_cli.datasets import BUILTINS

    pretrained = set(pretrained_names())
    rows = [
        {"name": s.name, "kind": s.kind, "dim": s.dim, "description": s.description,
         "pretrained": s.name in pretrained}
        for s in BUILTINS.values()
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    print_datasets(rows)


def data(
    name: Annotated[str, typer.Argument(help="A built-in data set (see `alternators datasets`).")],
    n: CountOpt = 10_000,
    seed: SeedOpt = 0,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
) -> None:
    """Draw points from a built-in data set.

    Example: alternators data pinwheel -n 5000 --seed 1 -o pinwheel.csv
    """
    from alternators_cli import output as enc
    from alternators_cli.data import default_columns
    from alternators_cli.datasets import draw_builtin

    npy = output_format(fmt, output) is Format.npy
    refuse_above_memory(32.0 * n * 3, f"data -n {n}", "draw fewer points (-n)")
    points = draw_builtin(name, n, seed)
    with open_output(output, npy) as out:
        if npy:
            out.write(enc.npy_bytes(points))
        else:
            out.write(enc.csv_header(default_columns(points.shape[1])))
            out.write(enc.csv_rows(points))


def info(checkpoint_spec: CheckpointOpt, as_json: JsonOpt = False) -> None:
    """Show what a checkpoint holds: data, settings, parameters, training, versions.

    Example: alternators info -c runs/pinwheel/model.pt --json
    """
    from alternators_cli.cli.report import print_info

    d = load_checkpoint(checkpoint_spec, kind=None).describe()
    if as_json:
        print(json.dumps(d, indent=2))
        return
    print_info(d)
