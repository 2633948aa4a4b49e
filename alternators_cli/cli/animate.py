"""`animate`: a GIF of the generative cycle (a sequence model: its trajectory and latent)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from alternators_cli.cli.common import (
    CheckpointOpt,
    DeviceOpt,
    QuietOpt,
    SeedOpt,
    is_stdout,
    load_checkpoint,
    open_output,
    refuse_above_memory,
    say,
)
from alternators_cli.errors import BadInput


def animate(
    checkpoint_spec: CheckpointOpt,
    output: Annotated[
        str, typer.Option("-o", "--output", help="GIF file to write, or - for stdout.")
    ] = "cycle.gif",
    n: Annotated[int, typer.Option("-n", "--num", min=1, help="Points per frame.")] = 5000,
    fps: Annotated[float, typer.Option(min=0.1, max=100, help="Frames per second.")] = 4.0,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print what was written as one JSON line: "
                                          '{"output", "frames", "fps"}.')
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Animate the generative cycle: one frame per step, generated points beside the data.

    The sampler runs once (all steps kept); frames are drawn from that single run.

    Example: alternators animate -c runs/pinwheel/model.pt -o pinwheel.gif
    """
    if as_json and is_stdout(output):
        raise BadInput("--json prints on stdout, where -o - writes the GIF: give -o FILE.gif")
    ckpt = load_checkpoint(checkpoint_spec, device, kind=None)
    if not is_stdout(output) and not output.lower().endswith(".gif"):
        raise BadInput(f"-o {output}: animate writes a GIF; give a file name ending in .gif")
    if ckpt.payload["kind"] == "sequence":
        frames, frame_rate = animate_sequence(ckpt, output, fps, seed)
    else:
        frames, frame_rate = animate_distribution(ckpt, output, n, fps, seed), fps
    if as_json:
        print(json.dumps({"output": output, "frames": frames, "fps": frame_rate}))
    elif not is_stdout(output):
        say(f"wrote {frames} frames to {output}")


def animate_distribution(ckpt, output: str, n: int, fps: float, seed: int) -> int:
    from alternators_cli import engine
    from alternators_cli.data import draw_builtin
    from alternators_cli.plots import cycle_frames, encode_gif

    refuse_above_memory(4.0 * n * ckpt.model.steps * ckpt.dim * 3 + 64.0 * n,
                        f"animate -n {n}", "draw fewer points per frame (-n)")
    with open_output(output, binary_format=True) as out:
        frames = engine.sample(ckpt.model, ckpt.normalizer, n, seed, all_steps=True)
        reference = ckpt.reference()
        if reference is not None and reference.builtin:
            data_points = draw_builtin(reference.name, n, seed + 1)
        elif reference is not None:
            data_points = reference.points[:n]
        else:
            data_points = frames[-1]
        sigma_x = ckpt.model.sigma_x.tolist()
        images = cycle_frames(frames, data_points, sigma_x, ckpt.data["name"], ckpt.columns)
        out.write(encode_gif(images, fps, hold_last=max(1, int(fps))))
    return len(images)


def animate_sequence(ckpt, output: str, fps: float, seed: int) -> tuple[int, float]:
    import numpy as np

    from alternators_cli.plots import encode_gif, sequence_frames
    from alternators_cli.sequences import run_draws

    length = 2 * ckpt.settings.window
    empty = np.full((1, length, ckpt.dim), np.nan, dtype=np.float32)
    x, z = run_draws(ckpt.model, ckpt.normalizer, empty, 1, seed)
    images = sequence_frames(x[0, 0], z[0, 0], ckpt.columns, ckpt.data["name"])
    with open_output(output, binary_format=True) as out:
        out.write(encode_gif(images, fps * 4, hold_last=max(1, int(fps))))
    return len(images), fps * 4
