"""`sample`: draw points (or a sequence model's trajectories) from a checkpoint."""

from __future__ import annotations

from typing import Annotated

import typer

from alternators_cli.cli.common import (
    CheckpointOpt,
    DeviceOpt,
    Format,
    FormatOpt,
    OutputOpt,
    QuietOpt,
    SeedOpt,
    load_checkpoint,
    open_output,
    output_format,
    raise_if_interrupted,
    refuse_above_memory,
)


def sample(
    checkpoint_spec: CheckpointOpt,
    n: Annotated[
        int | None,
        typer.Option("-n", "--num", min=1,
                     help="Number of points, or of trajectories for a sequence model.",
                     show_default="10000 points, 10 trajectories"),
    ] = None,
    seed: SeedOpt = 0,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    all_steps: Annotated[
        bool,
        typer.Option(
            "--all-steps", help="Emit every step x_1..x_T (npy [T, n, D]; CSV: step column)."
        ),
    ] = False,
    length: Annotated[
        int | None,
        typer.Option("--length", min=1, max=1_000_000,
                     help="Sequences: time steps per trajectory.",
                     show_default="the training window"),
    ] = None,
    device: DeviceOpt = "auto",
    quiet: QuietOpt = False,
) -> None:
    """Draw samples from a trained alternator (CSV with a header on stdout by default).

    A sequence model draws n trajectories of --length steps: npy of shape (n, T, D), or CSV with
    columns path, t and the channels.

    Same checkpoint and --seed give byte-identical output on the same machine.

    Example: alternators sample -c runs/pinwheel/model.pt -n 2000 --seed 1 > samples.csv
    """
    from alternators_cli import output as enc

    npy = output_format(fmt, output) is Format.npy
    ckpt = load_checkpoint(checkpoint_spec, device, kind=None)
    n = n or ckpt.model_kind.default_draws
    stream = ckpt.model_kind.sample_stream(ckpt, n, seed, length, all_steps)
    refuse_above_memory(stream.memory, f"sample --all-steps -n {n}",
                        "draw fewer points (-n), or leave out --all-steps to stream")
    with open_output(output, npy) as out:  # streamed, a chunk at a time
        out.write(enc.npy_header(stream.shape) if npy else enc.csv_header(stream.csv_columns))
        for rows, index in stream.chunks:
            raise_if_interrupted()
            out.write(rows.astype("<f4").tobytes() if npy else enc.csv_rows(rows, index=index))
