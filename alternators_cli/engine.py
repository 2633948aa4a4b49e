"""Training and sampling engine. Never prints and never touches files: progress leaves
through a callback, results are returned as tensors and plain dicts."""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import math
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel

from alternators_cli.data import draw_builtin, lorenz_series
from alternators_cli.errors import BadInput, RunFailure
from alternators_cli.model import Alternator, build_model
from alternators_cli.settings import CommonSettings, read_distributed_env

SAMPLE_CHUNK = 4096  # points per sampling chunk: activations stay in cache, memory flat in n


def resolve_device(spec: str) -> torch.device:
    """`auto` picks cuda, then mps, then cpu; an explicit device must exist."""
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(spec)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BadInput(f"--device {spec}: CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise BadInput(
                f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s) present"
            )
    if device.type == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise BadInput(f"--device {spec}: MPS is not available on this machine")
    return device


def distributed_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) as set by torchrun; (0, 1, 0) in a plain process.
    A value that is not a whole number in range is bad input."""
    return read_distributed_env()


def init_distributed(device: torch.device, local_rank: int) -> torch.device:
    """Join the torchrun process group: NCCL on CUDA (one GPU per process), gloo on CPU."""
    import torch.distributed as dist

    if device.type == "cuda":
        device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        dist.init_process_group("gloo")
    return device


def finish_distributed(wait_for_all: bool = True) -> None:
    """Leave the process group. After a normal finish, wait for every process first:
    tearing down gloo while a peer (rank 0, still evaluating) is connected aborts."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        if wait_for_all:
            dist.barrier()
        dist.destroy_process_group()


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


MAX_BASELINE_DIM = 512  # a Gaussian baseline's covariance is (D, D): kept up to this D


def gaussian_fit(x: np.ndarray) -> dict | None:
    """The multivariate Gaussian of the training rows (N, D): the baseline `evaluate`
    scores beside the model. None past MAX_BASELINE_DIM columns or under 2 rows."""
    x = np.asarray(x, dtype=np.float64)
    if x.shape[1] > MAX_BASELINE_DIM or len(x) < 2:
        return None
    cov = np.atleast_2d(np.cov(x, rowvar=False))
    return {"mean": torch.from_numpy(x.mean(axis=0)), "cov": torch.from_numpy(cov)}


def integer_columns(x: np.ndarray) -> np.ndarray:
    """(D,) bool: columns whose every finite value is a whole number, with at least two
    distinct values (a count, a grade, a year), so samples of them are rounded."""
    x = np.asarray(x, dtype=np.float64)
    finite = np.isfinite(x)
    whole = np.where(finite, x == np.round(x), True).all(axis=0)
    spread = np.nanmax(np.where(finite, x, np.nan), axis=0) > np.nanmin(
        np.where(finite, x, np.nan), axis=0)
    return whole & spread


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
    train: np.ndarray | None = None  # (N, D) data units, user files only (array or memmap)
    heldout: np.ndarray | None = None  # (M, D) data units, user files only
    # Sequences: `train` is (N, T, D) series with NaN = missing (built-ins included).
    kind: str = "distribution"
    notes: list[str] = field(default_factory=list)  # what reading the data did, to be said
    # A user's data: data_fingerprint of all its rows (what --resume checks it against).
    fingerprint: dict | None = None

    def __len__(self) -> int:
        return 0 if self.train is None else len(self.train)

    def fit_points(self, settings: CommonSettings, max_rows: int = 100_000) -> np.ndarray:
        if self.kind == "sequence":
            return self.train.reshape(-1, self.dim)[:max_rows * 10]
        if self.builtin:
            return draw_builtin(self.name, max_rows, settings.seed + 7919)
        rows = len(self.train)
        if rows <= max_rows:
            pick = np.arange(rows)
        else:
            rng = np.random.default_rng(settings.seed)
            pick = np.sort(rng.choice(rows, max_rows, replace=False))
        return np.asarray(self.train[pick], dtype=np.float64)


SMALL_BATCH = 128  # rows: a batch this small trains on one CPU thread (Trainer.threads)
MIN_TABLE_BATCHES = 5  # batches per epoch at least, for a user's table (Trainer.batch_size)
MIN_TABLE_BATCH = 100  # rows: the smallest batch that rule makes
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
    rng = np.random.default_rng(_derived_seed(seed, 1))
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


@dataclass
class EpochReport:
    epoch: int  # 1-based, epochs finished
    epochs: int
    loss: float  # mean over the epoch's points, averaged across processes
    seconds: float  # wall time of this epoch
    points_per_second: float  # points x steps per second, all processes together


def ema_with_warmup(decay: float):
    """EMA update for AveragedModel: decay_n = min(decay, (1 + n) / (10 + n)).

    The warm-up lets the average follow the weights early on, so short runs are not
    dragged back towards the initial weights.
    """

    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], n) -> None:
        count = float(n)
        rate = 1.0 - min(decay, (1.0 + count) / (10.0 + count))
        torch._foreach_lerp_(averaged, current, rate)

    return update


@contextlib.contextmanager
def one_thread(device: torch.device) -> Iterator[None]:
    """Run torch on one intra-op thread on the CPU. A sequence model's recurrence is many
    small matrix products in turn: splitting each across threads costs a barrier per op,
    and on a shared machine that is many times slower (docs/model.md, "Short series")."""
    if device.type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _derived_seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


@dataclass
class Trainer:
    """Holds everything a run needs to continue: model, EMA, optimiser, schedule, epoch.

    With `world_size > 1` (under torchrun) each process trains on its shard of every global
    batch (DistributedSampler order) with DistributedDataParallel; the global batch size is
    `settings.batch_size`. All randomness is derived from (seed, rank, epoch), so a resumed
    run continues exactly as the uninterrupted one would have.
    """

    settings: CommonSettings
    data: TrainingData
    device: torch.device
    rank: int = 0
    world_size: int = 1
    normalizer: Normalizer = field(init=False)
    model: Alternator = field(init=False)
    ema: AveragedModel = field(init=False)
    epoch: int = 0
    history: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.settings.batch_size % self.world_size:
            raise BadInput(
                f"--batch-size {self.settings.batch_size} must be divisible by the number of "
                f"processes ({self.world_size})"
            )
        torch.manual_seed(self.settings.seed)
        points = self.data.fit_points(self.settings)
        log = self.data.kind == "sequence" and self.settings.transform == "log"
        self.normalizer = Normalizer.fit(
            (positive_log(points) if log else points).reshape(-1, self.data.dim),
            per_column=self.per_column())
        self.normalizer.log = log
        self.baseline: dict | None = None
        if self.data.kind == "distribution" and not self.data.builtin:
            self.normalizer.integer = integer_columns(points)
            self.baseline = gaussian_fit(points)
        self.model = build_model(self.data.dim, self.settings).to(self.device)
        self.ema = AveragedModel(
            self.model, multi_avg_fn=ema_with_warmup(self.settings.ema), use_buffers=True
        )
        self.network: torch.nn.Module = self.model
        if self.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.network = DistributedDataParallel(self.model, device_ids=ids)
        # foreach: one kernel per op over all parameters instead of a loop over them; on
        # the CPU (where it is not the default) bitwise the same step, 1.1 -> 0.7 ms.
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.settings.lr,
                                          foreach=True)
        total = self.settings.epochs * self.batches_per_epoch()
        warmup = max(1, total // 50)

        def lr_factor(step: int) -> float:
            # Linear warm-up for 2% of the run, then cosine decay to zero.
            if step < warmup:
                return (step + 1) / warmup
            progress = min(1.0, (step - warmup) / max(1, total - warmup))
            return 0.5 * (1 + math.cos(math.pi * progress))

        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_factor)
        self.generator = torch.Generator(device=self.device)
        self.scaler = torch.amp.GradScaler(
            self.device.type, enabled=self.settings.precision == "fp16"
        )

    def per_column(self) -> bool:
        """`--normalize auto`: one scale per column for users' files and every sequence, one
        shared scale for the built-in 2-D sets (their axes share a unit; docs/model.md)."""
        choice = self.settings.normalize
        if choice == "auto":
            return not (self.data.builtin and self.data.kind == "distribution")
        return choice == "column"

    def epoch_rows(self) -> int:
        if self.data.builtin or self.data.kind == "sequence":
            return self.settings.epoch_size
        return len(self.data)

    def steps_per_row(self) -> int:
        return self.settings.window if self.data.kind == "sequence" else self.settings.steps

    def batch_size(self) -> int:
        """The global batch: `--batch-size`, except that a user's table smaller than
        MIN_TABLE_BATCHES batches is cut into batches of max(MIN_TABLE_BATCH, rows /
        MIN_TABLE_BATCHES) rows, so a small table still gets several steps per epoch
        (docs/model.md, "Tables")."""
        size = self.settings.batch_size
        if self.data.kind == "distribution" and not self.data.builtin:
            per_epoch = math.ceil(len(self.data) / MIN_TABLE_BATCHES)
            size = min(size, max(MIN_TABLE_BATCH, per_epoch))
        return size

    def batches_per_epoch(self) -> int:
        return max(1, math.ceil(self.epoch_rows() / self.batch_size()))

    def batches(self, epoch: int) -> Iterator[torch.Tensor]:
        """This process's part of each global batch of the epoch, normalised, on device."""
        from torch.utils.data import DistributedSampler

        if self.data.kind == "sequence":
            yield from self._window_batches(epoch)
            return
        if self.data.builtin:
            # Seeded by (seed, epoch): every process and a resumed run draw the same points.
            source = draw_builtin(
                self.data.name, self.settings.epoch_size, _derived_seed(self.settings.seed, epoch)
            )
        else:
            source = self.data.train
        sampler = DistributedSampler(
            range(len(source)), num_replicas=self.world_size, rank=self.rank,
            shuffle=True, seed=self.settings.seed,
        )
        sampler.set_epoch(epoch)
        order = np.fromiter(iter(sampler), dtype=np.int64)
        local = max(1, self.batch_size() // self.world_size)
        for start in range(0, len(order), local):
            rows = np.asarray(source[np.sort(order[start : start + local])])
            yield torch.from_numpy(self.normalizer.encode(rows)).to(self.device)

    def _window_batches(self, epoch: int) -> Iterator[torch.Tensor]:
        """`epoch_size` random windows (B, W, D) of the training series, seeded by (seed,
        epoch); process r takes every world_size-th window of each global batch."""
        series = self.data.train  # (N, T, D)
        W, B = self.settings.window, self.settings.batch_size
        N, T, _ = series.shape
        rng = np.random.default_rng(_derived_seed(self.settings.seed, epoch, 2))
        which = rng.integers(0, N, self.settings.epoch_size)
        starts = rng.integers(0, T - W + 1, self.settings.epoch_size)
        offsets = np.arange(W)
        for first in range(0, self.settings.epoch_size, B):
            rows = slice(first + self.rank, first + B, self.world_size)
            windows = series[which[rows, None], starts[rows, None] + offsets]  # (b, W, D)
            yield torch.from_numpy(self.normalizer.encode(windows)).to(self.device)

    def _autocast(self):
        if self.settings.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.settings.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def threads(self) -> int:
        """CPU threads for training: `--threads`, or with 0 (auto) one thread for a sequence
        model or when a batch is at most SMALL_BATCH rows (a small table's), whose matmuls
        are too small to split:
        two threads then wait on each other at every op, and on a busy host each wait is a
        time slice (iris: 50 s at 1 thread against 184 s at 2 beside other work); else
        torch's own count."""
        if self.settings.threads > 0:
            return self.settings.threads
        small = self.data.kind == "sequence" or self.batch_size() <= SMALL_BATCH
        if self.device.type == "cpu" and small:  # a sequence's recurrence: see one_thread
            return 1
        return torch.get_num_threads()

    def run(self, on_epoch: Callable[[EpochReport], bool | None] | None = None) -> None:
        """Train until `settings.epochs`; `on_epoch` returning False stops after that epoch
        (in every process: the processes agree before stopping)."""
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads())
        try:
            self.model.train()
            self._run(on_epoch)
        finally:
            torch.set_num_threads(previous)

    def _run(self, on_epoch: Callable[[EpochReport], bool | None] | None) -> None:
        while self.epoch < self.settings.epochs:
            start = time.perf_counter()
            self.generator.manual_seed(_derived_seed(self.settings.seed, self.rank, self.epoch))
            sums = torch.zeros(2, dtype=torch.float64)  # (loss * points, points)
            for batch in self.batches(self.epoch):
                with self._autocast():
                    loss = self.network(batch, self.generator)  # forward = training loss
                if not torch.isfinite(loss):
                    raise RunFailure(
                        f"loss became {loss.item()} at epoch {self.epoch + 1}; "
                        "try a lower --lr"
                    )
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self.scheduler.step()
                self.ema.update_parameters(self.model)
                sums += torch.tensor([loss.item() * len(batch), len(batch)], dtype=torch.float64)
            sums = self._all_reduce(sums)
            self.epoch += 1
            mean_loss = float(sums[0] / sums[1])
            self.history.append(mean_loss)
            seconds = time.perf_counter() - start
            report = EpochReport(
                self.epoch, self.settings.epochs, mean_loss, seconds,
                float(sums[1]) * self.steps_per_row() / max(seconds, 1e-9),
            )
            keep_going = on_epoch is None or on_epoch(report) is not False
            if not bool(self._all_reduce(torch.tensor([float(keep_going)]), "min")[0]):
                break

    def _all_reduce(self, t: torch.Tensor, op: str = "sum") -> torch.Tensor:
        if self.world_size == 1:
            return t
        import torch.distributed as dist

        # NCCL reduces only CUDA tensors; gloo only CPU ones.
        backend_device = self.device if dist.get_backend() == "nccl" else torch.device("cpu")
        buf = t.to(backend_device)
        dist.all_reduce(buf, op=dist.ReduceOp.MIN if op == "min" else dist.ReduceOp.SUM)
        return buf.cpu()

    def sampling_model(self) -> Alternator:
        """The weights to sample with: the EMA when enabled."""
        return self.ema.module if self.settings.ema > 0 else self.model

    def state_dict(self) -> dict:
        return {
            "model": self.sampling_model().state_dict(),
            "train_model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "history": list(self.history),
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["train_model"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.epoch = int(state["epoch"])
        self.history = [float(v) for v in state["history"]]


# ---- sampling ------------------------------------------------------------------------


def sample_chunks(
    model: Alternator,
    normalizer: Normalizer,
    n: int,
    seed: int,
    all_steps: bool = False,
    chunk: int = SAMPLE_CHUNK,
    workers: int | None = None,
) -> Iterator[torch.Tensor]:
    """Yield samples in data units, chunk by chunk: (c, D), or (T, c, D) with all_steps.

    Chunk i is drawn from its own generator seeded by (seed, i), so the output depends
    only on the seed and n, and memory stays flat however large n is.

    On the CPU, `workers` threads (default: torch's thread count) each sample whole chunks
    with one intra-op thread: the networks are small, and splitting every small matmul
    across threads costs a barrier per op, which on a busy machine is many times slower.
    Chunks are yielded in order; at most 2 x workers are in flight.
    """
    device = next(model.parameters()).device
    model.eval()
    count = -(-n // chunk)  # chunks; their offsets are index * chunk (no list of them)

    def one(index: int) -> torch.Tensor:
        size = min(chunk, n - index * chunk)
        generator = torch.Generator(device=device).manual_seed(_derived_seed(seed, index))
        with torch.inference_mode():
            x = model.sample(size, generator, all_steps=all_steps)
            return normalizer.decode_(x)

    workers = workers or torch.get_num_threads()
    if device.type != "cpu" or workers <= 1 or count == 1:
        for index in range(count):
            yield one(index)
        return
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            pending: collections.deque = collections.deque()
            for index in range(count):
                pending.append(pool.submit(one, index))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
    finally:
        torch.set_num_threads(previous_threads)


def sample(
    model: Alternator, normalizer: Normalizer, n: int, seed: int, all_steps: bool = False
) -> np.ndarray:
    """All n samples at once as a numpy array: (n, D) or (T, n, D)."""
    parts = [c.cpu().numpy() for c in sample_chunks(model, normalizer, n, seed, all_steps)]
    return np.concatenate(parts, axis=1 if all_steps else 0)
