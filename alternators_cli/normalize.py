"""The scaling of data before training, undone on output, and what else is fitted on the
training rows of a table (its integer columns)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from alternators_cli.errors import BadInput


@dataclass
class Normalizer:
    """x_norm = (x - mean) / scale, undone on output (`decode_`).

    Two ways to fit it (`--normalize`): one shared scale for every column keeps a 2-D
    picture's aspect ratio (the built-in sets, whose axes share one unit); one scale per
    column suits tables whose columns have different units. Columns marked `integer` (every
    training value a whole number) are rounded on output, so counts come back as counts.
    """

    mean: np.ndarray  # (D,)
    scale: np.ndarray  # (D,)
    integer: np.ndarray | None = None  # (D,) bool: round this column on output
    log: bool = False  # `--transform log`: scale log(x), and exp() on output

    @classmethod
    def fit(cls, x: np.ndarray, per_column: bool = False) -> Normalizer:
        """Mean and scale over the observed (non-NaN) cells of x (N, D), in float64: a
        shared root-mean-square spread, or each column's own standard deviation. A column
        with no spread (or no observed cell) gets scale 1, so nothing divides by zero."""
        with warnings.catch_warnings():  # a column with no observed cell: mean 0, scale 1
            warnings.simplefilter("ignore", RuntimeWarning)
            if per_column:
                mean, scale = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
            else:
                mean = np.nanmean(x, axis=0) if np.isnan(x).any() else x.mean(axis=0)
                scale = np.full(x.shape[1], np.sqrt(np.nanmean((x - mean) ** 2)))
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        return cls(np.nan_to_num(mean).astype(np.float32), scale.astype(np.float32))

    @classmethod
    def fit_per_channel(cls, x: np.ndarray) -> Normalizer:
        """Per-channel mean and scale over observed cells: for time series."""
        return cls.fit(x, per_column=True)

    def encode(self, x: np.ndarray) -> np.ndarray:
        if self.log:
            x = positive_log(x)
        return ((x - self.mean) / self.scale).astype(np.float32)

    def decode_(self, x: torch.Tensor) -> torch.Tensor:
        """In place on a tensor of normalised points (..., D)."""
        mean = torch.as_tensor(self.mean, device=x.device)
        scale = torch.as_tensor(self.scale, device=x.device)
        x.mul_(scale).add_(mean)
        if self.log:
            x.exp_()
        if self.integer is not None and self.integer.any():
            cols = torch.as_tensor(np.flatnonzero(self.integer), device=x.device)
            x[..., cols] = x[..., cols].round()
        return x

    def to_state(self) -> dict:
        state = {"mean": torch.from_numpy(self.mean), "scale": torch.from_numpy(self.scale)}
        if self.integer is not None:
            state["integer"] = torch.from_numpy(self.integer.astype(np.bool_))
        if self.log:
            state["log"] = True
        return state

    @classmethod
    def from_state(cls, state: dict) -> Normalizer:
        integer = state.get("integer")
        return cls(state["mean"].numpy(), state["scale"].numpy(),
                   None if integer is None else integer.numpy().astype(bool),
                   bool(state.get("log", False)))


def positive_log(x: np.ndarray) -> np.ndarray:
    """log(x) of a series on a log scale; BadInput at an observed value <= 0."""
    x = np.asarray(x, dtype=np.float64)
    if (x <= 0).any():  # NaN (missing) compares False
        raise BadInput(f"--transform log needs positive values, but the series has "
                       f"{int((x <= 0).sum())} value(s) <= 0 (smallest {np.nanmin(x):g})")
    return np.log(x)


def integer_columns(x: np.ndarray) -> np.ndarray:
    """(D,) bool: columns whose every finite value is a whole number, with at least two
    distinct values (a count, a grade, a year), so samples of them are rounded."""
    x = np.asarray(x, dtype=np.float64)
    finite = np.isfinite(x)
    whole = np.where(finite, x == np.round(x), True).all(axis=0)
    spread = np.nanmax(np.where(finite, x, np.nan), axis=0) > np.nanmin(
        np.where(finite, x, np.nan), axis=0)
    return whole & spread
