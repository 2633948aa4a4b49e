"""Sequences: rows are time, and each step of the cycle is a time step (SPEC section 2)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from alternators_cli.errors import BadInput
from alternators_cli.kinds.base import FIT_ROWS, ModelKind, SampleStream, named_columns
from alternators_cli.normalize import Normalizer, positive_log
from alternators_cli.settings import Kind, SequenceSettings, Transform
from alternators_cli.training_data import TrainingData, derived_seed

if TYPE_CHECKING:
    from alternators_cli.checkpoint import Checkpoint
    from alternators_cli.trainer import Trainer


class SequenceKind(ModelKind):
    """Rows are time; each step of the cycle is a time step (SPEC section 2)."""

    kind = Kind.sequence
    settings_class = SequenceSettings
    default_draws = 10
    operations = frozenset({"sample", "forecast", "impute"})

    def resolve_data(self, spec: str, settings) -> tuple[TrainingData, np.ndarray | None]:
        from alternators_cli.sources import series_data

        return series_data(spec, settings)

    def from_array(self, values: np.ndarray, columns: list[str] | None, name: str,
                   settings) -> tuple[TrainingData, np.ndarray | None]:
        from alternators_cli.sources import resolve_season
        from alternators_cli.training_data import split_series

        series = values[None] if values.ndim == 2 else values  # one series (T, D)
        if series.ndim != 3:
            raise BadInput(f"series must be (T, D) or (N, T, D), got {list(values.shape)}")
        columns = named_columns(columns, series.shape[-1])
        train, heldout = split_series(series.astype(np.float32), settings.heldout,
                                      settings.window)
        notes = resolve_season(settings, train)
        data = TrainingData(name, series.shape[-1], columns, False, train, heldout,
                            notes=notes)
        return data, heldout if heldout.shape[1] else None

    def draw(self, ckpt: Checkpoint, n: int, seed: int, length: int | None = None,
             all_steps: bool = False) -> np.ndarray:
        """n trajectories of `length` steps (the training window by default): (n, T, D)."""
        from alternators_cli.sequences import sample_paths

        refuse_all_steps(all_steps)
        return sample_paths(ckpt.model, ckpt.normalizer, n, length or ckpt.settings.window,
                            seed)

    def sample_stream(self, ckpt: Checkpoint, n: int, seed: int, length: int | None,
                      all_steps: bool) -> SampleStream:
        """n trajectories (n, T, D), streamed a chunk of paths at a time; CSV rows are
        led by the path and the time step."""
        from alternators_cli.output import grid_index
        from alternators_cli.sequences import sample_path_chunks

        refuse_all_steps(all_steps)
        length = length or ckpt.settings.window

        def chunks() -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
            for first, paths in sample_path_chunks(ckpt.model, ckpt.normalizer, n, length,
                                                   seed):
                index = grid_index(len(paths), length) + [first, 0]
                yield paths.reshape(-1, ckpt.dim), index

        return SampleStream((n, length, ckpt.dim), ["path", "t", *ckpt.columns], chunks())

    def animation(self, ckpt: Checkpoint, n: int, fps: float, seed: int
                  ) -> tuple[list[np.ndarray], float]:
        """One trajectory of two windows and its latent, drawn step by step (4x faster)."""
        from alternators_cli.plots import sequence_frames
        from alternators_cli.sequences import run_draws

        length = 2 * ckpt.settings.window
        empty = np.full((1, length, ckpt.dim), np.nan, dtype=np.float32)
        x, z = run_draws(ckpt.model, ckpt.normalizer, empty, 1, seed)
        return sequence_frames(x[0, 0], z[0, 0], ckpt.columns, ckpt.data["name"]), fps * 4

    def build_model(self, dim: int, settings: SequenceSettings) -> nn.Module:
        from alternators_cli.sequence_model import SequenceAlternator

        if settings.season == "auto":  # resolve_season runs where the data is read
            raise RuntimeError("--season auto reached the model unresolved")
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


def refuse_all_steps(all_steps: bool) -> None:
    if all_steps:
        raise BadInput("--all-steps is for distributions: a sequence's steps are its rows")
