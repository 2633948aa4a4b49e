"""What a run trains on: a built-in set (fresh points every epoch) or a user's rows or
series, split into training and held-out parts; and the fingerprint `--resume` checks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from alternators_cli.datasets import lorenz_series
from alternators_cli.errors import BadInput


def derived_seed(*parts: int) -> int:
    """A seed for one part of a run (an epoch, a rank, a chunk) derived from its numbers."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


@dataclass
class TrainingData:
    """Either a built-in set (fresh points every epoch) or a fixed table of a user's data.

    `train` may be a read-only memory map of a large .npy file: rows are only gathered a
    batch at a time, so a file larger than memory can be trained on.
    """

    name: str
    dim: int
    columns: list[str]
    builtin: bool
    # Sequences: `train` is (N, T, D) series with NaN = missing (built-ins included).
    train: np.ndarray | None = None  # (N, D) data units, user files only (array or memmap)
    heldout: np.ndarray | None = None  # (M, D) data units, user files only
    notes: list[str] = field(default_factory=list)  # what reading the data did, to be said
    # A user's data: data_fingerprint of all its rows (what --resume checks it against).
    fingerprint: dict | None = None

    def __len__(self) -> int:
        return 0 if self.train is None else len(self.train)


FINGERPRINT_ROWS = 100_000  # rows hashed at most: a larger file is hashed at spread rows


def data_fingerprint(values) -> dict:
    """What identifies a user's data cheaply: its shape and a SHA-256 of its rows as
    float64, all of them up to FINGERPRINT_ROWS, else that many spread evenly over the
    file (first and last included). `values`: (N, ...) array or memory map."""
    import hashlib

    rows = len(values)
    digest = hashlib.sha256(repr(tuple(int(s) for s in values.shape)).encode())
    sampled = rows > FINGERPRINT_ROWS
    if sampled:
        index = np.unique(np.linspace(0, rows - 1, FINGERPRINT_ROWS).round().astype(np.int64))
    else:
        index = np.arange(rows)
    for first in range(0, len(index), 8192):  # a memory map is read a block at a time
        block = values[index[first : first + 8192]]
        digest.update(np.ascontiguousarray(block, dtype="<f8").tobytes())
    return {"rows": int(rows), "shape": [int(s) for s in values.shape],
            "sha256": digest.hexdigest(), "sampled": sampled}


MAX_HELDOUT = 20_000
MIN_HELDOUT = 50  # rows: fewer make every held-out score noise (at most a third of the rows)


def split_indices(n: int, heldout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random (training, held-out) row indices: a `heldout` fraction but at least
    min(MIN_HELDOUT, n // 3) rows, at most MAX_HELDOUT, and always a training row."""
    order = np.random.default_rng(seed).permutation(n)
    k = 0
    if heldout > 0:
        k = min(max(int(round(n * heldout)), min(MIN_HELDOUT, n // 3)), MAX_HELDOUT, n - 1)
    return order[k:], order[:k]


LORENZ_TRAIN_SERIES = 16  # a built-in training set of 16 x 2500 steps (about 1 s to draw)
LORENZ_TRAIN_LENGTH = 2500


def builtin_sequences(name: str, seed: int) -> np.ndarray:
    """The fixed training series of a built-in sequence set: (N, T, D)."""
    rng = np.random.default_rng(derived_seed(seed, 1))
    return lorenz_series(LORENZ_TRAIN_SERIES, LORENZ_TRAIN_LENGTH, rng)[0]


def split_series(series: np.ndarray, heldout: float, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(training, held-out) parts of (N, T, D) series, split in time: the held-out part is
    the last `heldout` share of every series, so it is evaluated as unseen future."""
    T = series.shape[1]
    k = int(round(T * heldout)) if heldout > 0 else 0
    if T - k < window:
        raise BadInput(
            f"series of {T} steps leave {T - k} for training after --heldout {heldout}; "
            f"that is shorter than --window {window}: use a smaller --window or --heldout"
        )
    return series[:, : T - k], series[:, T - k :]


def split_table(values: np.ndarray, heldout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random split of a user's rows into training and held-out parts."""
    train_rows, heldout_rows = split_indices(len(values), heldout, seed)
    return values[train_rows], values[heldout_rows]
