"""Validated settings, one model per kind of data.

`DistributionSettings` and `SequenceSettings` share `CommonSettings` and differ in the
fields only one kind reads and in some defaults; each default is a plain field default
of its class, and a setting the kind does not read is refused by the model itself
(`extra="forbid"`). `Settings` is their union, discriminated by `kind`.

Precedence: command-line flags > environment (``ALTERNATORS_…``) > ``--config`` file (TOML,
or a run's settings.json) > defaults (`load_train_settings`). The CLI turns a
`ValidationError` into one line per bad field and exit status 2.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic.fields import FieldInfo

from alternators_cli.choices import (
    Activation,
    Kind,
    Normalize,
    Objective,
    Precision,
    Transform,
    Variant,
)
from alternators_cli.errors import BadInput

ENV_PREFIX = "ALTERNATORS_"
DEVICE_PATTERN = r"^(auto|cpu|mps|cuda(:\d+)?)$"


class CommonSettings(BaseModel):
    """What every kind of model reads: the networks' size, the noise, the training."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    latent_dim: int = Field(
        20, ge=1, le=4096, description="Latent size Dz (a table from a file: 14 unless given).")
    hidden: int = Field(64, ge=4, le=8192, description="Hidden width of OPN and STN.")
    layers: int = Field(2, ge=1, le=16, description="Hidden layers per network.")
    noise_max: float = Field(0.9, gt=0, lt=1, description="sigma_x at the first step.")
    noise_min: float = Field(0.01, gt=0, lt=1, description="sigma_x at the last step.")
    sigma_z_scale: float = Field(
        0.5, gt=0, le=10, description="sigma_z = sigma_z_scale * sigma_x (a sequence with "
        "--season: 4 unless given).")
    alpha: float = Field(0.79, gt=0, lt=1, description="STN mixing weight alpha.")
    draws: int = Field(
        2, ge=2, le=64, description="OPN draws per point for the energy score."
    )
    epochs: int = Field(400, ge=1, le=10_000_000, description="Training epochs.")
    epoch_size: int = Field(
        10_000, ge=1, le=100_000_000,
        description="Points per epoch for built-in sets (fresh each epoch) and for tables "
        "with more rows (a fresh random subset of them); sequences: windows.",
    )
    batch_size: int = Field(
        500, ge=1, le=10_000_000, description="Batch size (sequences: windows)."
    )
    lr: float = Field(2.5e-3, gt=0, le=10, description="Peak learning rate (Adam).")
    ema: float = Field(0.999, ge=0, lt=1, description="EMA decay of the weights (0 = off).")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="Random seed.")
    device: str = Field(
        "auto", pattern=DEVICE_PATTERN, description="auto, cpu, cuda, cuda:N or mps."
    )
    precision: Precision = Field(
        Precision.fp32, description="fp32, or bf16 / fp16 autocast (fp16 needs CUDA)."
    )
    heldout: float = Field(
        0.2, ge=0, lt=1,
        description="Fraction of a data file held out for evaluation, at least "
        "min(50, rows/3) rows (sequences: the last part of every series).",
    )
    threads: int = Field(
        0, ge=0, le=4096,
        description="CPU threads for training; 0 = by the work's size and a measurement "
        "(one thread for sequences and batches of at most 128 rows; else all of torch's "
        "threads only where the first batch runs 1.15x faster on them).",
    )
    normalize: Normalize = Field(
        Normalize.auto,
        description="Scaling before training, undone on output: column (each column its "
        "own scale: tables in mixed units), shared (one scale: keeps the aspect ratio), "
        "auto (column for files and sequences, shared for the built-in 2-D sets).",
    )

    def default_for_data(self, name: str, value: Any) -> bool:
        """Set `name` to a default that depends on the data (a built-in's own, a table's,
        a short series'), unless flags, environment or --config gave it: True when set."""
        if name in self.model_fields_set:
            return False
        setattr(self, name, value)
        return True

    def check_noise(self) -> None:
        """SPEC 1: sigma_x falls from noise_max to noise_min, and alpha + sigma_z^2 <= 1
        at every step (the STN's update keeps the latent's variance bounded)."""
        if self.noise_min > self.noise_max:
            raise ValueError(
                f"noise_min ({self.noise_min}) must not exceed noise_max ({self.noise_max})"
            )
        sigma_z_max = self.sigma_z_scale * self.noise_max
        if self.alpha + sigma_z_max**2 > 1 + 1e-12:
            raise ValueError(
                f"alpha + sigma_z^2 must be <= 1 at every step, but alpha={self.alpha} and "
                f"sigma_z at step 1 = {self.sigma_z_scale}*{self.noise_max} = {sigma_z_max:g} "
                f"give {self.alpha + sigma_z_max**2:g}"
            )


def default(name: str, value: Any) -> Any:
    """CommonSettings' field `name` with another default: a kind's own default."""
    return FieldInfo.merge_field_infos(CommonSettings.model_fields[name], default=value)


class DistributionSettings(CommonSettings):
    """Rows are independent points; T steps of the cycle refine a sample (SPEC section 1)."""

    # How a refusal of the other kind's settings ends (format_validation_error).
    foreign_note: ClassVar[str] = ("to sequences only (give --kind sequence for time series; "
                                   "a distribution's rows are independent points)")

    kind: Literal[Kind.distribution] = Field(
        Kind.distribution,
        description="distribution (rows are points) or sequence (rows are time) for a "
        "file; built-ins know their kind.",
    )
    steps: int = Field(15, ge=1, le=1000, description="Steps T of the cycle.")
    schedule_rho: float = Field(
        1.0, ge=1, le=100,
        description="Spacing of sigma_x between the two: 1 = linear, larger = more steps "
        "at low noise (EDM's rho).",
    )
    variant: Variant = Field(
        Variant.alternator,
        description="alternator, or alternator++ (learned noise models in both updates and "
        "a noise-matching term in the loss; Rezaei & Dieng 2025).",
    )
    objective: Objective = Field(
        Objective.energy, description="OPN objective: energy score or mse."
    )
    scored_steps: int = Field(
        0, ge=0, le=1000,
        description="Random steps per point at which the OPN is scored each batch (0, or "
        "T and more: all T).",
    )
    fourier_features: int = Field(
        16, ge=0, le=4096,
        description="Random Fourier features of x the STN also reads (0 = off).",
    )
    fourier_scale: float = Field(
        4.0, gt=0, le=1000,
        description="Frequency scale of those features (normalised units).",
    )
    opn_fourier_features: int = Field(
        32, ge=0, le=4096,
        description="Random Fourier features of z the OPN also reads (0 = off).",
    )
    opn_fourier_scale: float = Field(
        1.0, gt=0, le=1000, description="Frequency scale of the OPN's features."
    )
    activation: Activation = Field(
        Activation.relu, description="Nonlinearity of the hidden layers."
    )
    linear_skip: bool = Field(
        True,
        description="Linear paths from each network's raw input to its output (z -> x in "
        "the OPN, x -> z in the STN), added to the MLP's.",
    )

    @model_validator(mode="after")
    def _check(self) -> DistributionSettings:
        self.check_noise()
        if self.variant is Variant.alternator_pp:
            if 0 < self.scored_steps < self.steps:
                raise ValueError("scored_steps applies to variant alternator only "
                                 "(alternator++ scores every step)")
            if self.objective is not Objective.energy:
                raise ValueError("alternator++ trains with objective energy only")
        return self


SEASONAL_SIGMA_Z_SCALE = 4.0  # sigma_z / sigma_x of a sequence with a season (ablations.md)


class SequenceSettings(CommonSettings):
    """Rows are time; the steps are time steps, with one constant sigma_x (SPEC section 2,
    docs/model.md "Sequences"): a wider network, windows as the unit of an epoch."""

    foreign_note: ClassVar[str] = ("to distributions only (a sequence model's steps are its "
                                   "time steps: see --window)")

    kind: Literal[Kind.sequence] = Field(
        Kind.sequence, description=DistributionSettings.model_fields["kind"].description)
    window: int = Field(64, ge=2, le=100_000, description="Time steps per training window.")
    time_column: str | None = Field(
        None, min_length=1, max_length=1000,
        description="The file's column of the rows' times (plain years too, when named); "
        "default: a column of ISO dates or timestamps. forecast and impute read the same "
        "column when their input has it.")
    id_column: str | None = Field(
        None, min_length=1, max_length=1000,
        description="Several series in one file (long format): the column naming each "
        "row's series; default: the one text column beside a time column.")
    season: int | Literal["auto"] | None = Field(
        None, description="The season in steps, e.g. 12 for monthly data, or auto: found in "
        "the training part's changes (autocorrelation); the model reads the value one "
        "season back.")
    season_lags: int = Field(
        1, ge=1, le=100, description="With a season: how many seasons back the networks "
        "read, averaged (1: the value one season back; 3: the mean of the values 1, 2 and "
        "3 seasons back that the path has).")
    transform: Transform = Field(
        Transform.none, description="log models a positive series on a log scale (undone on "
        "output).")
    increments: bool = Field(
        True,
        description="The networks read changes from the step before instead of levels, and "
        "the OPN predicts the next change, so a trend carries on past the levels of "
        "training (on for a file; off for the built-in lorenz).",
    )
    latent_dim: int = default("latent_dim", 16)
    hidden: int = default("hidden", 128)
    noise_max: float = default("noise_max", 0.01)
    noise_min: float = default("noise_min", 0.01)
    sigma_z_scale: float = default("sigma_z_scale", 10.0)
    alpha: float = default("alpha", 0.5)
    epochs: int = default("epochs", 30)
    epoch_size: int = default("epoch_size", 2560)
    batch_size: int = default("batch_size", 128)
    lr: float = default("lr", 3e-3)
    heldout: float = default("heldout", 0.1)

    @model_validator(mode="before")
    @classmethod
    def _linked_defaults(cls, values: Any) -> Any:
        # One constant sigma_x: --noise-min alone sets it. With a season, sigma_z defaults to
        # SEASONAL_SIGMA_Z_SCALE sigma_x: the lag carries what latent noise would (ablations).
        if isinstance(values, dict) and "noise_min" in values and "noise_max" not in values:
            values = {**values, "noise_max": values["noise_min"]}
        season = values.get("season") if isinstance(values, dict) else None
        if season not in (None, "auto"):
            # Digits only: 12.0, True and "monthly" are refused, "12" (a flag) is read.
            steps = int(season) if str(season).strip().isdigit() else 0
            if not 1 <= steps <= 100_000:
                raise ValueError(f"--season: expected a whole number of steps from 1 to "
                                 f"100000, or auto (got {season!r})")
            values = {**values, "season": steps}
            if "sigma_z_scale" not in values:
                values["sigma_z_scale"] = SEASONAL_SIGMA_Z_SCALE
        return values

    def found_season(self, season: int | None) -> None:
        """`--season auto` resolved: the season found (or None), with the seasonal sigma_z
        default unless --sigma-z-scale was given."""
        if season is not None:
            self.default_for_data("sigma_z_scale", SEASONAL_SIGMA_Z_SCALE)
        self.season = season

    @model_validator(mode="after")
    def _check(self) -> SequenceSettings:
        if self.noise_max != self.noise_min:
            raise ValueError(
                f"a sequence model has one constant sigma_x: set --noise-min only "
                f"(got noise_max={self.noise_max}, noise_min={self.noise_min})"
            )
        self.check_noise()
        return self


Settings = Annotated[DistributionSettings | SequenceSettings, Field(discriminator="kind")]
KIND_SETTINGS: dict[str, type[CommonSettings]] = {
    Kind.distribution: DistributionSettings, Kind.sequence: SequenceSettings,
}
ALL_FIELDS = {name: info for cls in KIND_SETTINGS.values()
              for name, info in cls.model_fields.items()}
_ADAPTER = TypeAdapter(Settings)


def parse_settings(values: dict[str, Any]) -> DistributionSettings | SequenceSettings:
    """Settings of the kind `values["kind"]` names (distribution without one)."""
    values = dict(values)
    values.setdefault("kind", Kind.distribution)
    if str(values["kind"]) not in KIND_SETTINGS:
        raise BadInput(f"--kind: expected distribution or sequence (got {values['kind']!r})")
    try:
        return _ADAPTER.validate_python(values)
    except ValidationError as err:
        raise BadInput(format_validation_error(err, str(values["kind"]))) from None


def owners(name: str) -> list[str]:
    """The kinds whose settings have the field `name`."""
    return [kind for kind, cls in KIND_SETTINGS.items() if name in cls.model_fields]


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def format_validation_error(err: ValidationError, kind: str | None = None) -> str:
    """One line per bad field: `--field-name: message (got value)`; the settings another
    kind reads, named together with the kind they apply to."""
    lines, foreign = [], []
    for e in err.errors():
        loc = [str(p) for p in e["loc"]]
        if loc and loc[0] in KIND_SETTINGS:  # the union's branch
            loc = loc[1:]
        name = ".".join(loc)
        if e["type"] == "extra_forbidden" and name in ALL_FIELDS:
            foreign.append(name)
            continue
        msg = e["msg"].removeprefix("Value error, ")
        if name:
            got = e.get("input")
            shown = "" if isinstance(got, dict) else f" (got {got!r})"
            lines.append(f"{flag(name)}: {msg}{shown}")
        else:
            lines.append(msg)
    if foreign:
        flags = ", ".join(flag(name) for name in foreign)
        verb = "applies" if len(foreign) == 1 else "apply"
        own = KIND_SETTINGS.get(kind or Kind.distribution, DistributionSettings)
        lines.insert(0, f"{flags} {verb} {own.foreign_note}")
    return "; ".join(lines)


def read_config(path: Path | None) -> dict[str, Any]:
    """A settings file: TOML (flat keys or a [train] table), or JSON such as a run's own
    settings.json, so a run can be repeated with `--config RUN/settings.json`."""
    if path is None:
        return {}
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise BadInput(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise BadInput(f"config file is a directory: {path}") from None
    except PermissionError:
        raise BadInput(f"config file is not readable: {path}") from None
    try:
        if Path(path).suffix.lower() == ".json":
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("expected an object of settings")
        else:
            data = tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, ValueError) as exc:
        what = "JSON" if Path(path).suffix.lower() == ".json" else "TOML"
        detail = " ".join(str(exc).split())
        raise BadInput(f"config file {path} is not valid {what}: {detail}") from None
    if isinstance(data.get("train"), dict):
        data = {**{k: v for k, v in data.items() if k != "train"}, **data["train"]}
    values = {k.replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(values) - set(ALL_FIELDS))
    if unknown:
        raise BadInput(f"config file {path}: unknown setting(s): {', '.join(unknown)}")
    return values


def env_name(field: str) -> str:
    return (ENV_PREFIX + field).upper()


def environment_values(names) -> dict[str, str]:
    """The settings among `names` an ALTERNATORS_* variable gives (names are matched
    case-insensitively, as shells and pydantic-settings do)."""
    upper = {k.upper(): v for k, v in os.environ.items()}
    return {name: upper[env_name(name)] for name in names if env_name(name) in upper}


def settings_sources(flags: dict[str, Any], config: Path | None) -> tuple[dict, dict]:
    """(values, where each came from) with precedence flags > environment > file; a flag
    given as None is unset. A setting of the other kind, from any source, is refused when
    the values are parsed."""
    file_values = read_config(config)
    given = {k: v for k, v in flags.items() if v is not None}
    env = environment_values(ALL_FIELDS)
    sources = {k: f"{flag(k)} in {config}" for k in file_values}
    sources.update({k: env_name(k) for k in env})
    sources.update({k: flag(k) for k in given})
    return {**file_values, **env, **given}, sources


def load_train_settings(flags: dict[str, Any], config: Path | None = None):
    """Build settings with precedence flags > environment > config file > defaults."""
    values, _ = settings_sources(flags, config)
    return parse_settings(values)
