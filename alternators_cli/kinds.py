"""The kind seam: what differs between a distribution model and a sequence model.

`ModelKind` is the one interface; `DistributionKind` and `SequenceKind` implement it, and
`kind_of(settings)` chooses once from the settings. The trainer and the checkpoint ask
the kind and never which kind they hold (docs/model.md has the two models' equations).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
from torch import nn

from alternators_cli.data import draw_builtin
from alternators_cli.normalize import Normalizer, gaussian_fit, integer_columns, positive_log
from alternators_cli.settings import (
    CommonSettings,
    DistributionSettings,
    Kind,
    Normalize,
    SequenceSettings,
    Transform,
)
from alternators_cli.training_data import TrainingData, derived_seed

if TYPE_CHECKING:
    from alternators_cli.trainer import Trainer

FIT_ROWS = 100_000  # rows the normaliser is fitted on, at most
SMALL_BATCH = 128  # rows: a batch this small trains on one CPU thread (Trainer.threads)
MIN_TABLE_BATCHES = 5  # batches per epoch at least, for a user's table
MIN_TABLE_BATCH = 100  # rows: the smallest batch that rule makes


class ModelKind:
    """One kind of data and model: its settings, network, scaling, batches, and what its
    checkpoint keeps beside the weights."""

    kind: ClassVar[Kind]
    settings_class: ClassVar[type[CommonSettings]]

    def build_model(self, dim: int, settings) -> nn.Module:
        raise NotImplementedError

    def fit_points(self, data: TrainingData, settings) -> np.ndarray:
        """(N, D) rows in data units the normaliser is fitted on."""
        raise NotImplementedError

    def per_column(self, data: TrainingData, settings) -> bool:
        """`--normalize`: one scale per column, or one shared scale."""
        if settings.normalize == Normalize.auto:
            return self.auto_per_column(data)
        return settings.normalize == Normalize.column

    def auto_per_column(self, data: TrainingData) -> bool:
        return True

    def normalizer(self, data: TrainingData, settings, points: np.ndarray) -> Normalizer:
        """Fitted on `points`, the rows fit_points gave."""
        return Normalizer.fit(points, per_column=self.per_column(data, settings))

    def baseline(self, data: TrainingData, points: np.ndarray) -> dict | None:
        """What `evaluate` scores beside the model, fitted on the training part."""
        return None

    def epoch_rows(self, data: TrainingData, settings) -> int:
        """Rows (points or windows) per epoch."""
        return settings.epoch_size

    def steps_per_row(self, settings) -> int:
        """Network steps per row: what a points x steps per second figure counts."""
        raise NotImplementedError

    def batch_size(self, data: TrainingData, settings) -> int:
        return settings.batch_size

    def small_work(self, data: TrainingData, settings) -> bool:
        """Whether each op is too small to split across CPU threads (Trainer.threads)."""
        return self.batch_size(data, settings) <= SMALL_BATCH

    def batches(self, trainer: Trainer, epoch: int) -> Iterator[torch.Tensor]:
        """This process's part of each global batch of the epoch, normalised, on device."""
        raise NotImplementedError

    def data_rows(self, data: TrainingData, heldout: np.ndarray | None) -> int | None:
        """Rows of a user's data, held-out part included (None for a built-in set)."""
        raise NotImplementedError

    def heldout_history(self, data: TrainingData, heldout: np.ndarray | None):
        """What the checkpoint keeps to score its held-out part (None: nothing)."""
        return None


class DistributionKind(ModelKind):
    """Rows are independent points; the T steps of the cycle refine one sample."""

    kind = Kind.distribution
    settings_class = DistributionSettings

    def build_model(self, dim: int, settings: DistributionSettings) -> nn.Module:
        from alternators_cli.model import Alternator

        return Alternator(dim, settings)

    def fit_points(self, data: TrainingData, settings) -> np.ndarray:
        if data.builtin:
            return draw_builtin(data.name, FIT_ROWS, settings.seed + 7919)
        rows = len(data.train)
        if rows <= FIT_ROWS:
            pick = np.arange(rows)
        else:
            rng = np.random.default_rng(settings.seed)
            pick = np.sort(rng.choice(rows, FIT_ROWS, replace=False))
        return np.asarray(data.train[pick], dtype=np.float64)

    def auto_per_column(self, data: TrainingData) -> bool:
        # The built-in 2-D sets share one unit on both axes: one scale keeps their shape.
        return not data.builtin

    def normalizer(self, data: TrainingData, settings, points: np.ndarray) -> Normalizer:
        normalizer = super().normalizer(data, settings, points)
        if not data.builtin:  # counts come back as counts
            normalizer.integer = integer_columns(points)
        return normalizer

    def baseline(self, data: TrainingData, points: np.ndarray) -> dict | None:
        return None if data.builtin else gaussian_fit(points)

    def epoch_rows(self, data: TrainingData, settings) -> int:
        return settings.epoch_size if data.builtin else len(data)

    def steps_per_row(self, settings: DistributionSettings) -> int:
        return settings.steps

    def batch_size(self, data: TrainingData, settings) -> int:
        """`--batch-size`, except that a user's table smaller than MIN_TABLE_BATCHES
        batches is cut into batches of max(MIN_TABLE_BATCH, rows / MIN_TABLE_BATCHES), so
        a small table still gets several steps per epoch (docs/model.md, "Tables")."""
        size = settings.batch_size
        if not data.builtin:
            per_epoch = math.ceil(len(data) / MIN_TABLE_BATCHES)
            size = min(size, max(MIN_TABLE_BATCH, per_epoch))
        return size

    def batches(self, trainer: Trainer, epoch: int) -> Iterator[torch.Tensor]:
        from torch.utils.data import DistributedSampler

        data, settings = trainer.data, trainer.settings
        if data.builtin:
            # Seeded by (seed, epoch): every process and a resumed run draw the same points.
            source = draw_builtin(data.name, settings.epoch_size,
                                  derived_seed(settings.seed, epoch))
        else:
            source = data.train
        sampler = DistributedSampler(
            range(len(source)), num_replicas=trainer.world_size, rank=trainer.rank,
            shuffle=True, seed=settings.seed,
        )
        sampler.set_epoch(epoch)
        order = np.fromiter(iter(sampler), dtype=np.int64)
        local = max(1, trainer.batch_size() // trainer.world_size)
        for start in range(0, len(order), local):
            rows = np.asarray(source[np.sort(order[start : start + local])])
            yield torch.from_numpy(trainer.normalizer.encode(rows)).to(trainer.device)

    def data_rows(self, data: TrainingData, heldout: np.ndarray | None) -> int | None:
        if data.builtin:
            return None
        return int(len(data.train) + (0 if heldout is None else len(heldout)))


class SequenceKind(ModelKind):
    """Rows are time; each step of the cycle is a time step (SPEC section 2)."""

    kind = Kind.sequence
    settings_class = SequenceSettings

    def build_model(self, dim: int, settings: SequenceSettings) -> nn.Module:
        from alternators_cli.sequence_model import SequenceAlternator

        return SequenceAlternator(dim, settings)

    def fit_points(self, data: TrainingData, settings) -> np.ndarray:
        points = data.train.reshape(-1, data.dim)[: FIT_ROWS * 10]
        return positive_log(points) if settings.transform == Transform.log else points

    def normalizer(self, data: TrainingData, settings, points: np.ndarray) -> Normalizer:
        normalizer = super().normalizer(data, settings, points)
        normalizer.log = settings.transform == Transform.log
        return normalizer

    def steps_per_row(self, settings: SequenceSettings) -> int:
        return settings.window

    def small_work(self, data: TrainingData, settings) -> bool:
        # The recurrence is many small matrix products in turn (docs/model.md).
        return True

    def batches(self, trainer: Trainer, epoch: int) -> Iterator[torch.Tensor]:
        """`epoch_size` random windows (B, W, D) of the training series, seeded by (seed,
        epoch); process r takes every world_size-th window of each global batch."""
        settings = trainer.settings
        series = trainer.data.train  # (N, T, D)
        W, B = settings.window, settings.batch_size
        N, T, _ = series.shape
        rng = np.random.default_rng(derived_seed(settings.seed, epoch, 2))
        which = rng.integers(0, N, settings.epoch_size)
        starts = rng.integers(0, T - W + 1, settings.epoch_size)
        offsets = np.arange(W)
        for first in range(0, settings.epoch_size, B):
            rows = slice(first + trainer.rank, first + B, trainer.world_size)
            windows = series[which[rows, None], starts[rows, None] + offsets]  # (b, W, D)
            yield torch.from_numpy(trainer.normalizer.encode(windows)).to(trainer.device)

    def data_rows(self, data: TrainingData, heldout: np.ndarray | None) -> int | None:
        if data.builtin:
            return None
        return int(data.train.shape[1] + (0 if heldout is None else heldout.shape[1]))

    def heldout_history(self, data: TrainingData, heldout: np.ndarray | None):
        """The training steps just before the held-out part, kept so that the held-out
        part can be backtested (sequences.history_to_keep)."""
        if data.builtin or heldout is None:
            return None
        from alternators_cli.sequences import history_to_keep

        return torch.from_numpy(np.ascontiguousarray(history_to_keep(data.train), np.float32))


KINDS: dict[str, ModelKind] = {Kind.distribution: DistributionKind(),
                               Kind.sequence: SequenceKind()}


def kind_of(settings) -> ModelKind:
    """The kind the settings are of (chosen once, by their class)."""
    return KINDS[settings.kind]


def build_model(dim: int, settings) -> nn.Module:
    """The network for settings of either kind."""
    return kind_of(settings).build_model(dim, settings)
