"""The kind seam: what differs between a distribution model and a sequence model.

`ModelKind` (base.py) is the one interface; `DistributionKind` (distribution.py) and
`SequenceKind` (sequence.py) implement it, and `kind_of(settings)` chooses once from the
settings. The trainer, the checkpoint, the commands and the Python API ask the kind and
never which kind they hold (docs/model.md has the two models' equations).
"""

from __future__ import annotations

from torch import nn

from alternators_cli.kinds.base import FIT_ROWS, SMALL_BATCH, ModelKind, SampleStream
from alternators_cli.kinds.distribution import (
    MIN_TABLE_BATCH,
    MIN_TABLE_BATCHES,
    DistributionKind,
)
from alternators_cli.kinds.sequence import SequenceKind
from alternators_cli.settings import Kind

KINDS: dict[str, ModelKind] = {Kind.distribution: DistributionKind(),
                               Kind.sequence: SequenceKind()}


def kind_of(settings) -> ModelKind:
    """The kind the settings are of (chosen once, by their class)."""
    return KINDS[settings.kind]


def build_model(dim: int, settings) -> nn.Module:
    """The network for settings of either kind."""
    return kind_of(settings).build_model(dim, settings)


__all__ = ["FIT_ROWS", "KINDS", "MIN_TABLE_BATCH", "MIN_TABLE_BATCHES", "SMALL_BATCH",
           "DistributionKind", "ModelKind", "SampleStream", "SequenceKind", "build_model",
           "kind_of"]
