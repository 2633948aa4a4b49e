"""Distributions: rows are independent points, and the T steps of the cycle refine one
sample (docs/model.md)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from alternators_cli.baselines import fit_baselines
from alternators_cli.choices import Kind, Variant
from alternators_cli.datasets import draw_builtin
from alternators_cli.errors import BadInput
from alternators_cli.kinds.base import (
    FIT_ROWS,
    ModelKind,
    SampleStream,
    named_columns,
)
from alternators_cli.normalize import Normalizer, integer_columns
from alternators_cli.settings import DistributionSettings
from alternators_cli.training_data import TrainingData, derived_seed

if TYPE_CHECKING:
    from alternators_cli.checkpoint import Checkpoint
    from alternators_cli.trainer import Trainer

MIN_TABLE_BATCHES = 5  # batches per epoch at least, for a user's table
MIN_TABLE_BATCH = 100  # rows: the smallest batch that rule makes
# A file's table gets this latent size unless --latent-dim is given: a latent of 20 (the
# built-in sets') leaves a wide table's samples under-correlated (ablations.md).
TABLE_LATENT_DIM = 14
# A file's table of at most NARROW_TABLE columns gets NARROW_TABLE_STEPS steps of the cycle
# unless --steps is given: on the benchmark's tables of 4-30 columns 8 steps score lower
# than 15 on five of six and train in about 0.65x the time, while digits (61 columns)
# loses half its quality with 8 (ablations.md, "Steps of a table").
NARROW_TABLE = 32
NARROW_TABLE_STEPS = 8


class DistributionKind(ModelKind):
    """Rows are independent points; the T steps of the cycle refine one sample."""

    kind = Kind.distribution
    settings_class = DistributionSettings
    default_draws = 10_000
    operations = frozenset({"sample", "evaluate"})

    def resolve_data(self, spec: str, settings) -> tuple[TrainingData, np.ndarray | None]:
        from alternators_cli.sources import table_data

        return table_data(spec, settings)

    def from_array(self, values: np.ndarray, columns: list[str] | None, name: str,
                   settings) -> tuple[TrainingData, np.ndarray | None]:
        from alternators_cli.data import check_training_columns
        from alternators_cli.training_data import split_table

        if values.ndim != 2 or len(values) < 2 or not np.isfinite(values).all():
            raise BadInput("rows must be a finite array (N, D) with at least 2 rows")
        columns = named_columns(columns, values.shape[-1])
        check_training_columns(values, columns, name)
        train, heldout = split_table(values.astype(np.float32), settings.heldout,
                                     settings.seed)
        data = TrainingData(name, values.shape[1], columns, False, train, heldout)
        return data, heldout if len(heldout) else None

    def draw(self, ckpt: Checkpoint, n: int, seed: int, length: int | None = None,
             all_steps: bool = False) -> np.ndarray:
        from alternators_cli import engine

        refuse_length(length)
        return engine.sample(ckpt.model, ckpt.normalizer, n, seed, all_steps=all_steps)

    def sample_stream(self, ckpt: Checkpoint, n: int, seed: int, length: int | None,
                      all_steps: bool) -> SampleStream:
        from alternators_cli import engine

        refuse_length(length)
        T, D = ckpt.model.steps, ckpt.dim
        if all_steps:  # every step of every point is held at once (a step-major output)
            def steps() -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
                frames = engine.sample(ckpt.model, ckpt.normalizer, n, seed,
                                       all_steps=True)  # (T, n, D)
                for t in range(T):
                    yield frames[t], np.full((n, 1), t + 1)

            return SampleStream((T, n, D), ["step", *ckpt.columns], steps(),
                                memory=4.0 * n * T * D * 3)
        chunks = ((c.cpu().numpy(), None)
                  for c in engine.sample_chunks(ckpt.model, ckpt.normalizer, n, seed))
        return SampleStream((n, D), ckpt.columns, chunks)

    def animation(self, ckpt: Checkpoint, n: int, fps: float, seed: int
                  ) -> tuple[list[np.ndarray], float]:
        """One frame per step of the cycle, the generated points beside the data."""
        from alternators_cli import engine
        from alternators_cli.plots import cycle_frames

        frames = engine.sample(ckpt.model, ckpt.normalizer, n, seed, all_steps=True)
        reference = ckpt.reference()
        if reference is not None and reference.builtin:
            data_points = draw_builtin(reference.name, n, seed + 1)
        elif reference is not None:
            data_points = reference.points[:n]
        else:
            data_points = frames[-1]
        sigma_x = ckpt.model.sigma_x.tolist()
        return cycle_frames(frames, data_points, sigma_x, ckpt.data["name"], ckpt.columns), fps

    def animation_memory(self, ckpt: Checkpoint, n: int) -> float:
        return 4.0 * n * ckpt.model.steps * ckpt.dim * 3 + 64.0 * n

    def build_model(self, dim: int, settings: DistributionSettings) -> nn.Module:
        from alternators_cli.model import Alternator
        from alternators_cli.model_pp import AlternatorPP

        variants = {Variant.alternator: Alternator, Variant.alternator_pp: AlternatorPP}
        return variants[settings.variant](dim, settings)

    def adapt_settings(self, data: TrainingData, settings: DistributionSettings) -> None:
        if not data.builtin:
            settings.default_for_data("latent_dim", TABLE_LATENT_DIM)
            if data.dim <= NARROW_TABLE:
                settings.default_for_data("steps", NARROW_TABLE_STEPS)

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
        return None if data.builtin else fit_baselines(points)

    def epoch_rows(self, data: TrainingData, settings) -> int:
        """`epoch_size` points of a built-in set; a table's rows, at most `epoch_size` (a
        larger table's epoch is a fresh random `epoch_size` of its rows: the cost of
        training stays that of a built-in set however many rows a table has)."""
        return settings.epoch_size if data.builtin else min(len(data), settings.epoch_size)

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
            rows = self.epoch_rows(data, settings)
            if rows < len(source):  # a fresh subset, seeded as above: resumes see the same
                rng = np.random.default_rng(derived_seed(settings.seed, epoch))
                source = source[np.sort(rng.choice(len(source), rows, replace=False))]
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


def refuse_length(length: int | None) -> None:
    if length is not None:
        raise BadInput("--length is for sequence models; this checkpoint holds a distribution")
