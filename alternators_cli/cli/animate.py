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
    from alternators_cli.plots import encode_gif

    if as_json and is_stdout(output):
        raise BadInput("--json prints on stdout, where -o - writes the GIF: give -o FILE.gif")
    ckpt = load_checkpoint(checkpoint_spec, device, kind=None)
    if not is_stdout(output) and not output.lower().endswith(".gif"):
        raise BadInput(f"-o {output}: animate writes a GIF; give a file name ending in .gif")
    kind = ckpt.model_kind
    refuse_above_memory(kind.animation_memory(ckpt, n), f"animate -n {n}",
                        "draw fewer points per frame (-n)")
    with open_output(output, binary_format=True) as out:
        images, frame_rate = kind.animation(ckpt, n, fps, seed)
        out.write(encode_gif(images, frame_rate, hold_last=max(1, int(fps))))
    if as_json:
        print(json.dumps({"output": output, "frames": len(images), "fps": frame_rate}))
    elif not is_stdout(output):
        say(f"wrote {len(images)} frames to {output}")
