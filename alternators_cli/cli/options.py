"""`train`'s setting options, derived from the settings' fields (settings.py): the help
text is the field's description, the shown default its default (both kinds' where they
differ, "400; sequences 30"), a field only one kind reads says so ("Sequences: ..."), and
each option sits in a help panel."""

from __future__ import annotations

import typer

from alternators_cli.settings import ALL_FIELDS, KIND_SETTINGS, Kind

DATA, MODEL, NOISE, TRAINING, RUN = "Data", "Model", "Noise", "Training", "Run and output"

PANELS = {
    DATA: ("kind", "heldout", "normalize", "time_column", "id_column", "window", "season",
           "season_lags", "transform", "increments"),
    MODEL: ("variant", "steps", "latent_dim", "hidden", "layers", "activation", "linear_skip",
            "fourier_features", "fourier_scale", "opn_fourier_features", "opn_fourier_scale"),
    NOISE: ("noise_max", "noise_min", "schedule_rho", "alpha", "sigma_z_scale"),
    TRAINING: ("epochs", "epoch_size", "batch_size", "lr", "ema", "objective", "draws",
               "scored_steps", "precision", "threads", "seed"),
    RUN: ("device",),
}
PANEL_OF = {name: panel for panel, names in PANELS.items() for name in names}
KIND_NAMES = {Kind.distribution: "Distributions", Kind.sequence: "Sequences"}
METAVARS = {"season": "<N|auto>"}  # where the option's type alone (str) would not say


def kind_defaults(name: str) -> dict[str, object]:
    """The default of setting `name` for each kind that reads it."""
    return {kind: cls.model_fields[name].default for kind, cls in KIND_SETTINGS.items()
            if name in cls.model_fields}


def shown(value) -> str:
    return str(value.value if hasattr(value, "value") else value)


def shown_default(name: str) -> str:
    """`--help`'s default of a setting: "400", or "400; sequences 30" where the kinds'
    defaults differ. `kind` itself: distribution (a built-in names its own)."""
    defaults = kind_defaults(name)
    if name == "kind":
        return shown(Kind.distribution)
    first, *others = defaults.items()
    text = shown(first[1])
    for kind, value in others:
        if value != first[1]:
            text += f"; {KIND_NAMES[kind].lower()} {shown(value)}"
    return text


def help_text(name: str) -> str:
    """The field's description, prefixed with the one kind that reads it, if only one."""
    owners = list(kind_defaults(name))
    description = ALL_FIELDS[name].description or ""
    if len(owners) == 1 and name != "kind":
        if description[1:2].islower():  # "Time steps" -> "time steps"; "OPN" stays
            description = description[0].lower() + description[1:]
        return f"{KIND_NAMES[owners[0]]}: {description}"
    return description


def setting(name: str):
    """The typer.Option of setting `name` (None = not given: the environment, --config or
    the kind's default decide)."""
    flag = "--" + name.replace("_", "-")
    decls = (f"{flag}/--no-{flag[2:]}",) if ALL_FIELDS[name].annotation is bool else (flag,)
    return typer.Option(*decls, help=help_text(name), show_default=shown_default(name),
                        rich_help_panel=PANEL_OF[name], metavar=METAVARS.get(name))
