"""The `alternators` Typer app: the root options and every command, each from its module
(a command is a plain function; here it is registered, with one-line errors)."""

from __future__ import annotations

from typing import Annotated

import typer

from alternators_cli.cli import animate, evaluate, inspect, sample, series, train
from alternators_cli.cli.common import OneLineErrors, handle_errors
from alternators_cli.cli.streams import version_line

app = typer.Typer(
    name="alternators",
    cls=OneLineErrors,
    help=(
        "Train, sample, evaluate and animate alternators: an OPN maps a latent to an "
        "observation, an STN maps the observation back to the next latent, over a short "
        "cycle of steps.\n\n"
        "Quick start:  alternators train pinwheel && "
        "alternators sample --checkpoint runs/pinwheel/model.pt -n 1000 > samples.csv"
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def version_callback(value: bool) -> None:
    if value:
        print(version_line())
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=version_callback, is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    """Alternators: few-step generative models with two networks taking turns."""


COMMANDS = (
    inspect.datasets, inspect.data, train.train, sample.sample, evaluate.evaluate,
    animate.animate, inspect.info, series.impute, series.forecast,
)


def reflowed(doc: str) -> str:
    """A docstring as help text: the lines of each paragraph joined, so the terminal wraps
    them at its width (Typer keeps every line break); a line after one ending in a
    backslash, an indented line, a list item or an example keeps its break."""
    import inspect as pyinspect

    out: list[str] = []
    for line in pyinspect.cleandoc(doc or "").splitlines():
        joins = (out and out[-1] and line and not line[0].isspace()
                 and not out[-1].endswith("\\") and not line.startswith(("- ", "Example")))
        if joins:
            out[-1] += " " + line
        else:
            out.append(line)
    return "\n".join(out)


for command in COMMANDS:
    app.command(help=reflowed(command.__doc__))(handle_errors(command))
