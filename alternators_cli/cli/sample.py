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
    refuse_above_memory,
)
from alternators_cli.errors import BadInput


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
    from alternators_cli import engine
    from alternators_cli import output as enc

    npy = output_format(fmt, output) is Format.npy
    ckpt = load_checkpoint(checkpoint_spec, device, kind=None)
    if ckpt.payload["kind"] == "sequence":
        if all_steps:
            raise BadInput("--all-steps is for distributions: a sequence's steps are its rows")
        sample_sequences(ckpt, n or 10, length, seed, npy, output)
        return
    n = n or 10_000
    if length is not None:
        raise BadInput("--length is for sequence models; this checkpoint holds a distribution")
    dim, T = ckpt.dim, ckpt.model.steps
    if all_steps:  # every step of every point is held at once (a step-major output)
        refuse_above_memory(4.0 * n * T * dim * 3, f"sample --all-steps -n {n}",
                            "draw fewer points (-n), or leave out --all-steps to stream")
    with open_output(output, npy) as out:
        if all_steps:
            frames = engine.sample(ckpt.model, ckpt.normalizer, n, seed, all_steps=True)
            if npy:
                out.write(enc.npy_bytes(frames))
            else:
                out.write(enc.csv_header(ckpt.columns, with_step=True))
                for t in range(T):
                    out.write(enc.csv_rows(frames[t], step=t + 1))
            return
        if npy:
            out.write(enc.npy_header((n, dim)))
        else:
            out.write(enc.csv_header(ckpt.columns))
        for chunk in engine.sample_chunks(ckpt.model, ckpt.normalizer, n, seed):
            points = chunk.cpu().numpy()
            out.write(points.astype("<f4").tobytes() if npy else enc.csv_rows(points))


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
