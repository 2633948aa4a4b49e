"""The interface every kind of model implements (`ModelKind`), and what they share."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
from torch import nn

from alternators_cli.data import default_columns
from alternators_cli.errors import BadInput
from alternators_cli.normalize import Normalizer
from alternators_cli.settings import CommonSettings, Kind, Normalize
from alternators_cli.training_data import TrainingData

if TYPE_CHECKING:
    from alternators_cli.checkpoint import Checkpoint
    from alternators_cli.trainer import Trainer

FIT_ROWS = 100_000  # rows the normaliser is fitted on, at most
SMALL_BATCH = 128  # rows: a batch this small trains on one CPU thread (Trainer.threads)


@dataclass
class SampleStream:
    """What `sample` writes, chunk by chunk: the whole array's shape (npy), the CSV header,
    and chunks of rows (c, D), each with the integer columns (c, k) that lead its CSV lines
    (None: no leading columns)."""

    shape: tuple[int, ...]
    csv_columns: list[str]
    chunks: Iterator[tuple[np.ndarray, np.ndarray | None]]
    memory: float = 0.0  # bytes held at once beyond one chunk (refused above the machine's)


class ModelKind:
    """One kind of data and model: its settings, network, scaling, batches, what its
    checkpoint keeps beside the weights, and how a trained one draws and animates."""

    kind: ClassVar[Kind]
    settings_class: ClassVar[type[CommonSettings]]
    default_draws: ClassVar[int]  # what `sample` draws without -n
    operations: ClassVar[frozenset[str]]  # what the Python API's Model can do with it

    def require(self, operation: str, hint: str = "") -> None:
        """Refuse, in one line, an operation this kind of model does not do."""
        if operation not in self.operations:
            raise BadInput(f"{operation} needs a {self.other} model; this one holds a "
                           f"{self.kind.value}{hint}")

    @property
    def other(self) -> str:
        return next(k.value for k in Kind if k != self.kind)

    def resolve_data(self, spec: str, settings) -> tuple[TrainingData, np.ndarray | None]:
        """(TrainingData, held-out part or None) for a built-in name, a file, or `-`."""
        raise NotImplementedError

    def from_array(self, values: np.ndarray, columns: list[str] | None, name: str,
                   settings) -> tuple[TrainingData, np.ndarray | None]:
        """The same, for an array a Python user passes."""
        raise NotImplementedError

    def draw(self, ckpt: Checkpoint, n: int, seed: int, length: int | None = None,
             all_steps: bool = False) -> np.ndarray:
        """n draws of a trained model, in data units (Model.sample)."""
        raise NotImplementedError

    def sample_stream(self, ckpt: Checkpoint, n: int, seed: int, length: int | None,
                      all_steps: bool) -> SampleStream:
        """n draws as `sample` writes them."""
        raise NotImplementedError

    def animation(self, ckpt: Checkpoint, n: int, fps: float, seed: int
                  ) -> tuple[list[np.ndarray], float]:
        """The frames of `animate` and their rate."""
        raise NotImplementedError

    def animation_memory(self, ckpt: Checkpoint, n: int) -> float:
        """Bytes `animation` holds at once."""
        return 0.0

    def build_model(self, dim: int, settings) -> nn.Module:
        raise NotImplementedError

    def adapt_settings(self, data: TrainingData, settings) -> None:
        """Set the defaults that depend on the data on `settings`, where none was given."""

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


def named_columns(columns: list[str] | None, dim: int) -> list[str]:
    names = list(columns) if columns else default_columns(dim)
    if len(names) != dim:
        raise BadInput(f"{len(names)} column names for {dim} columns")
    return names
