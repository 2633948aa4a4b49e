"""The Python front door: train, load, sample, forecast, impute, evaluate and save a model.

    import alternators_cli as alt

    model = alt.train("pinwheel", epochs=50)          # a built-in, a path, an array, a DataFrame
    points = model.sample(1000, seed=0)                # (1000, 2), data units
    model.save("pinwheel.pt")                          # the CLI reads it: alternators sample -c ...
    same = alt.load("pinwheel.pt")                     # or alt.load("pretrained:pinwheel")

Settings are the keyword arguments of `alternators train` (`DistributionSettings` or
`SequenceSettings`); a model is a
checkpoint held in memory, so a saved model is exactly what the CLI writes and reads.
Nothing here prints: `train(progress=...)` receives one `EpochReport` per epoch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alternators_cli import checkpoint as ckpt_io
from alternators_cli import evaluation
from alternators_cli.datasets import BUILTINS
from alternators_cli.errors import BadInput
from alternators_cli.files import atomic_write_with
from alternators_cli.trainer import EpochReport, Trainer


def _is_dataframe(obj: Any) -> bool:
    return type(obj).__module__.startswith("pandas") and hasattr(obj, "columns")


def _from_dataframe(frame) -> tuple[np.ndarray, list[str], Any]:
    """(values (T, D) float, column names, the DatetimeIndex or None) of a DataFrame."""
    numeric = frame.select_dtypes(include="number")
    dropped = [c for c in frame.columns if c not in numeric.columns]
    if dropped:
        raise BadInput(f"DataFrame column(s) {', '.join(map(repr, dropped))} are not numeric: "
                       "encode them as numbers or drop them")
    index = frame.index if hasattr(frame.index, "freq") else None
    return numeric.to_numpy(dtype=np.float64), [str(c) for c in numeric.columns], index


class Model:
    """A trained alternator: its networks, normalisation and description, as a checkpoint
    holds them (`alternators info` shows the same)."""

    def __init__(self, loaded: ckpt_io.Checkpoint):
        self._ckpt = loaded

    # ---- what it is ----------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self._ckpt.payload["kind"]

    @property
    def columns(self) -> list[str]:
        return self._ckpt.columns

    @property
    def settings(self) -> dict:
        return self._ckpt.settings.model_dump(mode="json")

    @property
    def network(self) -> torch.nn.Module:
        """The torch module: `network.loss(batch, generator)` is the training loss of
        docs/model.md for a normalised batch (`normalize`), for one's own loop."""
        return self._ckpt.model

    def normalize(self, x: np.ndarray) -> torch.Tensor:
        """Data units -> the networks' normalised units, as training feeds them."""
        return torch.from_numpy(self._ckpt.normalizer.encode(np.asarray(x)))

    def describe(self) -> dict:
        return self._ckpt.describe()

    # ---- using it -----------------------------------------------------------------
    def sample(self, n: int, seed: int = 0, all_steps: bool = False,
               length: int | None = None) -> np.ndarray:
        """Distributions: n points (n, D), or every step (T, n, D). Sequences: n
        trajectories of `length` steps (default: the training window), (n, T, D)."""
        return self._ckpt.model_kind.draw(self._ckpt, n, seed, length, all_steps)

    def _series(self, values) -> tuple[np.ndarray, Any, bool]:
        """(N, T, D) float32 of an array (T, D) / (N, T, D) or a DataFrame, its time index,
        and whether the input was one series."""
        index = None
        if _is_dataframe(values):
            time_column = getattr(self._ckpt.settings, "time_column", None)
            if time_column in values.columns:  # the rows' times, as in training
                values = values.drop(columns=[time_column])
            arr, names, index = _from_dataframe(values)
            if names != self.columns:
                missing = [c for c in self.columns if c not in names]
                unknown = [c for c in names if c not in self.columns]
                if missing or unknown:
                    raise BadInput(f"DataFrame columns differ from the model's: missing "
                                   f"{missing}, unknown {unknown}")
                arr = arr[:, [names.index(c) for c in self.columns]]
            values = arr
        arr = np.asarray(values, dtype=np.float32)
        single = arr.ndim == 2
        arr = arr[None] if single else arr
        if arr.ndim != 3 or arr.shape[2] != len(self.columns):
            raise BadInput(f"expected series (T, {len(self.columns)}) or (N, T, "
                           f"{len(self.columns)}), got shape {list(np.shape(values))}")
        return arr, index, single

    def forecast(self, history, horizon: int, n: int = 100, seed: int = 0,
                 quantiles: tuple[float, ...] | None = None):
        """Sample paths of the next `horizon` steps after `history`: (n, H, D) for one
        series (T, D), (n, N, H, D) for several. For a DataFrame with a DatetimeIndex, a
        DataFrame of the quantiles per channel (`<column>_q<p>`, default 0.05, 0.5, 0.95)
        indexed by the next times."""
        from alternators_cli import sequences

        self._ckpt.model_kind.require("forecast", " (use sample)")
        if horizon < 1:
            raise BadInput(f"horizon must be at least 1 (got {horizon})")
        arr, index, single = self._series(history)
        paths = sequences.forecast(self._ckpt.model, self._ckpt.normalizer, arr, horizon, n,
                                   seed)
        if index is None or not _is_dataframe(history):
            return paths[:, 0] if single else paths
        import pandas as pd

        qs = quantiles or (0.05, 0.5, 0.95)
        bands = np.quantile(paths[:, 0], qs, axis=0)  # (Q, H, D)
        freq = index.freq or pd.infer_freq(index)
        if freq is None:
            raise BadInput("the DataFrame's index has no regular frequency to forecast at")
        future = pd.date_range(index[-1], periods=horizon + 1, freq=freq)[1:]
        data = {f"{c}_q{q:g}": bands[i, :, j] for j, c in enumerate(self.columns)
                for i, q in enumerate(qs)}
        return pd.DataFrame(data, index=future)

    def impute(self, values, n: int = 50, seed: int = 0):
        """Every missing (NaN) cell filled with the median of n completions; observed cells
        unchanged. Same shape as given; a DataFrame comes back as a DataFrame."""
        from alternators_cli import sequences

        self._ckpt.model_kind.require("impute", " (use sample)")
        arr, _, single = self._series(values)
        filled = sequences.impute(self._ckpt.model, self._ckpt.normalizer, arr, n, seed)
        median = filled["median"][0] if single else filled["median"]
        if _is_dataframe(values):
            frame = values.copy()  # every other column (a time column) as given
            frame[self.columns] = median
            return frame
        return median

    def evaluate(self, reference=None, n: int = 5000, seed: int = 0) -> dict:
        """The report of `alternators evaluate --json` for a distribution model: against
        `reference` (a built-in name, an array of rows, or a DataFrame, whose columns are
        matched to the model's by name), else the built-in set or the
        held-out part the model was trained with; beside the Gaussian and mixture baselines
        for a table.
        (For sequence models, use `alternators evaluate`.)"""
        from alternators_cli import engine

        self._ckpt.model_kind.require(
            "evaluate", ": for a sequence model run `alternators evaluate -c FILE`")
        if reference is None:
            ref = self._ckpt.reference()
            if ref is None:
                raise BadInput("the model keeps no held-out rows: give a reference")
        elif isinstance(reference, str):
            if reference not in BUILTINS:
                raise BadInput(f"unknown built-in reference {reference!r}")
            ref = evaluation.Reference(reference, True)
        elif _is_dataframe(reference):
            from alternators_cli.data import Table, match_columns

            values, columns, _ = _from_dataframe(reference)
            table = match_columns(Table(values, columns, "reference"), self.columns,
                                  "reference")
            ref = evaluation.Reference("reference", False, table.values.astype(np.float32),
                                       table.columns)
        else:
            ref = evaluation.Reference("reference", False, np.asarray(reference, np.float32))
        samples = engine.sample(self._ckpt.model, self._ckpt.normalizer, n, seed)
        baselines = self._ckpt.baseline_samples(ref, n, seed)
        return evaluation.report(samples, ref, n, seed, baselines=baselines)

    def save(self, path: str | Path) -> None:
        """Write the model as a checkpoint file (atomically), the same format the CLI
        writes into a run directory; `alternators sample -c PATH` reads it."""
        payload = self._ckpt.payload
        atomic_write_with(Path(path), lambda f: ckpt_io.save(payload, f))


def load(spec: str | Path, device: str = "cpu") -> Model:
    """A model from a checkpoint file or `pretrained:NAME`; checked before use and loaded
    with `torch.load(weights_only=True)`."""
    return Model(ckpt_io.load(str(spec), device))


def train(
    data,
    *,
    kind: str | None = None,
    name: str | None = None,
    columns: list[str] | None = None,
    progress: Callable[[EpochReport], bool | None] | None = None,
    device: str = "cpu",
    **settings: Any,
) -> Model:
    """Train a model on `data`: a built-in set's name, a .csv / .npy path, an array (N, D)
    of rows (or (N, T, D) / kind="sequence" for series), or a pandas DataFrame (a
    DatetimeIndex makes it a time series, as does time_column="year": that column is the
    rows' times, not a channel). Keyword settings are `alternators train`'s
    options (e.g. epochs=50, hidden=128); `progress` gets an EpochReport per epoch and
    may return False to stop."""
    from alternators_cli.engine import resolve_device
    from alternators_cli.kinds import kind_of
    from alternators_cli.settings import load_train_settings

    flags = dict(settings, device=device)
    if _is_dataframe(data):
        time_column = settings.get("time_column")
        if time_column is not None:  # the rows' times, as `train --time-column`: no channel
            if time_column not in data.columns:
                raise BadInput(f"time_column {time_column!r}: the DataFrame has no such "
                               f"column (columns: {', '.join(map(str, data.columns))})")
            data = data.drop(columns=[time_column])
            kind = kind or "sequence"
        values, names, frame_index = _from_dataframe(data)
        columns = columns or names
        if kind is None and frame_index is not None and "datetime" in str(frame_index.dtype):
            kind = "sequence"  # a DataFrame indexed by time is a time series
        data = values
    if isinstance(data, str | Path) and str(data) in BUILTINS:
        kind = kind or BUILTINS[str(data)].kind
    if kind is not None:
        flags["kind"] = kind
    resolved = load_train_settings(flags)
    model_kind = kind_of(resolved)
    if isinstance(data, str | Path):
        training_data, heldout = model_kind.resolve_data(str(data), resolved)
    else:
        training_data, heldout = model_kind.from_array(
            np.asarray(data, dtype=np.float64), columns, name or "array", resolved)
    trainer = Trainer(resolved, training_data, resolve_device(resolved.device))
    started = time.perf_counter()
    trainer.run(progress)
    payload = ckpt_io.build_payload(trainer, heldout, time.perf_counter() - started)
    return Model(ckpt_io.from_payload(payload, training_data.name, trainer.device))


__all__ = ["Model", "load", "train"]
