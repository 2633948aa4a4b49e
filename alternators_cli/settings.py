"""Validated settings.

Precedence for training settings: command-line flags > environment (``ALTERNATORS_…``) >
``--config file.toml`` > defaults. Every check lives here, as pydantic validation; the CLI
turns a ``ValidationError`` into one line per bad field and exit status 2.
"""

from __future__ import annotations

import os
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from alternators_cli.errors import BadInput

ENV_PREFIX = "ALTERNATORS_"
DEVICE_PATTERN = r"^(auto|cpu|mps|cuda(:\d+)?)$"


class Objective(StrEnum):
    """What the OPN is trained to do at each step (see docs/model.md)."""

    energy = "energy"  # energy score: the OPN samples the posterior p(x | z_{t-1})
    mse = "mse"  # squared error: the OPN predicts the posterior mean (the authors' loss)


class Activation(StrEnum):
    """The hidden layers' nonlinearity (distributions; see docs/model.md)."""

    relu = "relu"  # max(x, 0): cheap to evaluate and to differentiate (the default)
    silu = "silu"  # x * sigmoid(x): smooth (what files without the setting ran)


class Kind(StrEnum):
    """What the data is (SPEC section 2)."""

    distribution = "distribution"  # rows are independent points; the steps refine a sample
    sequence = "sequence"  # rows are time; the steps are time steps


# Settings whose default differs for sequences (see docs/model.md, "Sequences"): a
# constant schedule (noise_min = noise_max = sigma_x, sigma_z = sigma_z_scale * sigma_x),
# a wider network, and windows instead of points as the unit of an epoch and a batch.
SEQUENCE_DEFAULTS: dict[str, Any] = {
    "latent_dim": 16, "hidden": 128, "noise_max": 0.05, "noise_min": 0.05,
    "sigma_z_scale": 2.0, "alpha": 0.5, "epochs": 30, "epoch_size": 2560,
    "batch_size": 128, "lr": 3e-3, "fourier_features": 0, "opn_fourier_features": 0,
    "activation": "silu",  # and the only one: DISTRIBUTION_ONLY refuses another
    "linear_skip": False,  # likewise
    "heldout": 0.1,  # the last 10 % of every series
}


# Settings a sequence model does not use: giving one with --kind sequence is an error.
DISTRIBUTION_ONLY = (
    "steps", "schedule_rho", "objective", "scored_steps", "fourier_features", "fourier_scale",
    "opn_fourier_features", "opn_fourier_scale", "activation", "linear_skip",
)

# Settings a distribution model does not use: giving one without --kind sequence is an error.
SEQUENCE_ONLY = ("window", "season", "transform")


def unused_settings(kind: str) -> tuple[str, ...]:
    """The settings a model of this kind never reads."""
    return DISTRIBUTION_ONLY if kind == Kind.sequence else SEQUENCE_ONLY


class Normalize(StrEnum):
    """How data is scaled before training (undone on output; docs/model.md)."""

    auto = "auto"  # column for users' files and sequences, shared for the built-in 2-D sets
    column = "column"  # each column by its own standard deviation: tables in mixed units
    shared = "shared"  # one scale for every column: keeps a picture's aspect ratio


class Transform(StrEnum):
    """A transform of the values before scaling (sequences; undone on output)."""

    none = "none"
    log = "log"  # positive series whose changes are proportional to their level


class Precision(StrEnum):
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


class ModelConfig(BaseModel):
    """The model's shape and schedules: everything needed to rebuild it from a checkpoint."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    kind: Kind = Field(Kind.distribution, description="distribution or sequence data.")
    window: int = Field(
        64, ge=2, le=100_000, description="Sequences: time steps per training window."
    )
    season: int | None = Field(
        None, ge=1, le=100_000,
        description="Sequences: the season in steps (12 for monthly data with a yearly "
        "season); the model reads the value one season back and predicts the change from it.",
    )
    transform: Transform = Field(
        Transform.none,
        description="Sequences: log models a positive series on a log scale (undone on "
        "output); none models the values as they are.",
    )
    steps: int = Field(15, ge=1, le=1000, description="Steps T of the generative cycle.")
    latent_dim: int = Field(20, ge=1, le=4096, description="Latent size Dz.")
    hidden: int = Field(64, ge=4, le=8192, description="Width of the hidden layers.")
    layers: int = Field(2, ge=1, le=16, description="Hidden layers in each network.")
    noise_max: float = Field(0.9, gt=0, lt=1, description="sigma_x at the first step.")
    noise_min: float = Field(0.01, gt=0, lt=1, description="sigma_x at the last step.")
    schedule_rho: float = Field(
        1.0, ge=1, le=100,
        description="Spacing of sigma_x from noise_max to noise_min: 1 = linear, larger = "
        "more steps at low noise (EDM's rho).",
    )
    sigma_z_scale: float = Field(
        0.5, gt=0, le=10, description="sigma_z[t] = sigma_z_scale * sigma_x[t]."
    )
    alpha: float = Field(0.79, gt=0, lt=1, description="STN mixing weight alpha[t].")
    objective: Objective = Field(Objective.energy, description="OPN training objective.")
    draws: int = Field(
        2, ge=2, le=64, description="OPN draws per point for the energy objective."
    )

    fourier_features: int = Field(
        16, ge=0, le=4096,
        description="Random Fourier features of x the STN also reads (0 = off).",
    )
    fourier_scale: float = Field(
        4.0, gt=0, le=1000, description="Frequency scale of the STN's Fourier features."
    )
    opn_fourier_features: int = Field(
        32, ge=0, le=4096,
        description="Random Fourier features of z the OPN also reads (0 = off).",
    )
    opn_fourier_scale: float = Field(
        1.0, gt=0, le=1000, description="Frequency scale of the OPN's Fourier features."
    )
    activation: Activation = Field(
        Activation.relu, description="Nonlinearity of the hidden layers (distributions)."
    )
    linear_skip: bool = Field(
        True,
        description="Linear paths from each network's raw input to its output (z -> x in "
        "the OPN, x -> z in the STN), added to the MLP's.",
    )
    scored_steps: int = Field(
        0, ge=0, le=1000,
        description="Random steps per point at which the OPN is scored (0 = all T).",
    )

    @model_validator(mode="before")
    @classmethod
    def _sequence_defaults(cls, values: Any) -> Any:
        # Kind-dependent defaults: only for settings nobody gave (flag, environment or file).
        if isinstance(values, dict) and str(values.get("kind", "")) == Kind.sequence:
            own = cls.model_fields
            fill = {k: v for k, v in SEQUENCE_DEFAULTS.items() if k in own and k not in values}
            if "noise_min" in values and "noise_max" not in values:
                fill["noise_max"] = values["noise_min"]  # one constant sigma_x
            return {**values, **fill}
        return values

    @model_validator(mode="after")
    def _check_schedules(self) -> ModelConfig:
        if self.kind is Kind.sequence and self.noise_max != self.noise_min:
            raise ValueError(
                f"a sequence model has one constant sigma_x: set --noise-min only "
                f"(got noise_max={self.noise_max}, noise_min={self.noise_min})"
            )
        # A setting this kind never reads may only hold its default (for this kind).
        fields = type(self).model_fields
        defaults = SEQUENCE_DEFAULTS if self.kind is Kind.sequence else {}
        unused = [name for name in unused_settings(self.kind)
                  if getattr(self, name) != defaults.get(name, fields[name].default)]
        if unused:
            flags = ", ".join("--" + name.replace("_", "-") for name in unused)
            verb = "applies" if len(unused) == 1 else "apply"
            if self.kind is Kind.sequence:
                raise ValueError(
                    f"{flags} {verb} to distributions only (a sequence model's steps are its "
                    "time steps: see --window)"
                )
            raise ValueError(
                f"{flags} {verb} to sequences only (give --kind sequence for time series; "
                "a distribution's rows are independent points)"
            )
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
        return self


class TrainSettings(BaseSettings, ModelConfig):
    """Everything `alternators train` needs, from flags, environment, TOML file or defaults."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", validate_assignment=True
    )

    epochs: int = Field(400, ge=1, le=10_000_000, description="Training epochs.")
    epoch_size: int = Field(
        10_000, ge=1, le=100_000_000,
        description="Points per epoch for built-in sets (fresh draws every epoch).",
    )
    batch_size: int = Field(500, ge=1, le=10_000_000, description="Batch size.")
    lr: float = Field(2.5e-3, gt=0, le=10, description="Peak learning rate (Adam).")
    ema: float = Field(0.999, ge=0, lt=1, description="EMA decay of the weights (0 = off).")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="Random seed.")
    device: str = Field("auto", pattern=DEVICE_PATTERN, description="auto|cpu|cuda[:N]|mps.")
    precision: Precision = Field(
        Precision.fp32, description="fp32, or bf16 / fp16 autocast (fp16: CUDA only)."
    )
    heldout: float = Field(
        0.2, ge=0, lt=1,
        description="Fraction of a data file held out for evaluation (a table keeps at least "
        "min(50, rows/3) rows; sequences: the last part of every series, 0.1).",
    )
    threads: int = Field(
        0, ge=0, le=4096,
        description="CPU threads for training; 0 = by the work's size (one thread for "
        "sequences and for batches of at most 128 rows, else torch's default).",
    )
    normalize: Normalize = Field(
        Normalize.auto,
        description="Scaling before training: column (each column its own scale, for mixed "
        "units), shared (one scale, keeps the aspect ratio), auto (column for files and "
        "sequences, shared for the built-in 2-D sets).",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Flags (init) win over the environment; the TOML file is merged below both by load().
        return (init_settings, env_settings)

    def model_part(self) -> ModelConfig:
        return ModelConfig(**{k: getattr(self, k) for k in ModelConfig.model_fields})


def format_validation_error(err: ValidationError) -> str:
    """One line per bad field: `--field-name: message (got value)`."""
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if loc:
            got = e.get("input")
            shown = "" if isinstance(got, dict) else f" (got {got!r})"
            lines.append(f"--{loc.replace('_', '-')}: {msg}{shown}")
        else:
            lines.append(msg)
    return "; ".join(lines)


def read_toml(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise BadInput(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise BadInput(f"config file is a directory: {path}") from None
    except PermissionError:
        raise BadInput(f"config file is not readable: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"config file {path} is not valid TOML: {exc}") from None
    # Accept either flat keys or a [train] table; dashes or underscores.
    if isinstance(data.get("train"), dict):
        data = {**{k: v for k, v in data.items() if k != "train"}, **data["train"]}
    return {k.replace("-", "_"): v for k, v in data.items()}


def load_train_settings(flags: dict[str, Any], config: Path | None = None) -> TrainSettings:
    """Build settings with precedence flags > environment > TOML file > defaults."""
    file_values = read_toml(config)
    unknown = sorted(set(file_values) - set(TrainSettings.model_fields))
    if unknown:
        raise BadInput(f"config file {config}: unknown setting(s): {', '.join(unknown)}")
    given = {k: v for k, v in flags.items() if v is not None}
    try:
        # Environment beats the file: let pydantic-settings read the environment on a class
        # whose defaults are the file's values, then apply flags as init arguments.
        settings = TrainSettings(**given) if not file_values else _with_file(file_values, given)
    except ValidationError as err:
        raise BadInput(format_validation_error(err)) from None
    return settings


def _with_file(file_values: dict[str, Any], given: dict[str, Any]) -> TrainSettings:
    env_keys = {k for k in TrainSettings.model_fields if _env_has(k)}
    from_file = {k: v for k, v in file_values.items() if k not in env_keys and k not in given}
    return TrainSettings(**from_file, **given)


def settings_in_env() -> list[str]:
    """The training settings an ALTERNATORS_* environment variable gives."""
    return [k for k in TrainSettings.model_fields if _env_has(k)]


def _env_has(field: str) -> bool:
    name = (ENV_PREFIX + field).upper()
    return any(k.upper() == name for k in os.environ)


def read_distributed_env() -> tuple[int, int, int]:
    """(RANK, WORLD_SIZE, LOCAL_RANK) from the environment torchrun sets; (0, 1, 0)
    without. A value that is not a whole number in range is bad input."""

    def read(name: str, default: int, least: int) -> int:
        text = os.environ.get(name, "").strip() or str(default)
        try:
            value = int(text)
        except ValueError:
            value = least - 1
        if value < least:
            raise BadInput(f"environment variable {name}={os.environ.get(name)!r}: expected a "
                           f"whole number >= {least} (as torchrun sets it)")
        return value

    rank, world_size = read("RANK", 0, 0), read("WORLD_SIZE", 1, 1)
    local_rank = read("LOCAL_RANK", 0, 0)
    if rank >= world_size:
        raise BadInput(f"environment variable RANK={rank} must be below WORLD_SIZE={world_size}")
    return rank, world_size, local_rank
