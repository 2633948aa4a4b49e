"""The values an enumerated setting takes (settings.py's fields; the CLI's choices)."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """What the data is (SPEC section 2)."""

    distribution = "distribution"  # rows are independent points; the steps refine a sample
    sequence = "sequence"  # rows are time; the steps are time steps


class Objective(StrEnum):
    """What the OPN is trained to do at each step (see docs/model.md)."""

    energy = "energy"  # energy score: the OPN samples the posterior p(x | z_{t-1})
    mse = "mse"  # squared error: the OPN predicts the posterior mean (the authors' loss)


class Variant(StrEnum):
    """Which equations the cycle runs (distributions; docs/model.md)."""

    alternator = "alternator"  # SPEC section 1: fixed Gaussian noise in both updates
    alternator_pp = "alternator++"  # Rezaei & Dieng 2025: learned noise models in both


class Activation(StrEnum):
    """The hidden layers' nonlinearity (distributions; see docs/model.md)."""

    relu = "relu"  # max(x, 0): cheap to evaluate and to differentiate (the default)
    silu = "silu"  # x * sigmoid(x): smooth


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
