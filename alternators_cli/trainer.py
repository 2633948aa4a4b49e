"""Training: one loop for every kind of model (the kind supplies data, scaling and
batches: kinds.py). Never prints and never touches files: progress leaves through a
callback, the state through `state_dict`."""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch.optim.swa_utils import AveragedModel

from alternators_cli.errors import BadInput, RunFailure
from alternators_cli.kinds import kind_of
from alternators_cli.normalize import Normalizer
from alternators_cli.settings import DistributionSettings, SequenceSettings
from alternators_cli.training_data import TrainingData, derived_seed

THREADS_GAIN = 1.15  # more threads must be this much faster than one to be used
THREAD_PROBES = 3  # timed passes per thread count when choosing
SLOWDOWN = 2.0  # an epoch this many times slower than the fastest re-measures the threads


def faster_threads(timings: dict[int, float]) -> int:
    """Of {threads: seconds} timed for the same work, the fewest threads unless more are
    at least THREADS_GAIN times faster: a thread that barely helps is better left to the
    rest of the machine."""
    chosen = min(timings)
    for threads in sorted(timings):
        if timings[chosen] >= THREADS_GAIN * timings[threads]:
            chosen = threads
    return chosen


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


@dataclass
class Trainer:
    """Holds everything a run needs to continue: model, EMA, optimiser, schedule, epoch.

    With `world_size > 1` (under torchrun) each process trains on its shard of every global
    batch (DistributedSampler order) with DistributedDataParallel; the global batch size is
    `settings.batch_size`. All randomness is derived from (seed, rank, epoch), so a resumed
    run continues exactly as the uninterrupted one would have.
    """

    settings: DistributionSettings | SequenceSettings
    data: TrainingData
    device: torch.device
    rank: int = 0
    world_size: int = 1
    normalizer: Normalizer = field(init=False)
    model: torch.nn.Module = field(init=False)
    ema: AveragedModel = field(init=False)
    epoch: int = 0
    history: list[float] = field(default_factory=list)
    _threads: int | None = field(default=None, init=False, repr=False)
    # Seconds of one batch's forward and backward by thread count, where they were timed.
    thread_timings: dict[int, float] = field(default_factory=dict, init=False)
    _best_rate: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.settings.batch_size % self.world_size:
            raise BadInput(
                f"--batch-size {self.settings.batch_size} must be divisible by the number of "
                f"processes ({self.world_size})"
            )
        self.kind = kind_of(self.settings)
        self.kind.adapt_settings(self.data, self.settings)
        torch.manual_seed(self.settings.seed)
        points = self.kind.fit_points(self.data, self.settings)
        self.normalizer = self.kind.normalizer(self.data, self.settings, points)
        # Only rank 0 writes the checkpoint, which is all the baselines are fitted for.
        self.baseline: dict | None = (self.kind.baseline(self.data, points) if self.rank == 0
                                      else None)
        self.model = self.kind.build_model(self.data.dim, self.settings).to(self.device)
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

    def batch_size(self) -> int:
        """The global batch (the kind may cut a small table's: kinds.batch_size)."""
        return self.kind.batch_size(self.data, self.settings)

    def batches_per_epoch(self) -> int:
        rows = self.kind.epoch_rows(self.data, self.settings)
        return max(1, math.ceil(rows / self.batch_size()))

    def batches(self, epoch: int) -> Iterator[torch.Tensor]:
        """This process's part of each global batch of the epoch, normalised, on device."""
        return self.kind.batches(self, epoch)

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
        torch's own count if a batch's forward and backward are measured at least
        THREADS_GAIN times faster on it than on one thread (`measured_threads`). Decided
        once per run."""
        if self._threads is None:
            self._threads = self._choose_threads()
        return self._threads

    @property
    def chosen_threads(self) -> int | None:
        """The threads `threads()` settled on, None before it was asked (no measuring)."""
        return self._threads

    def fix_threads(self, threads: int) -> None:
        """Train on `threads` CPU threads, neither measured nor by `--threads` (a benchmark
        that sets torch's count itself and reports it)."""
        self._threads = threads

    def _choose_threads(self) -> int:
        if self.settings.threads > 0:
            return self.settings.threads
        available = torch.get_num_threads()
        if self.device.type != "cpu" or available == 1:
            return available
        if self.kind.small_work(self.data, self.settings):
            return 1
        if self.world_size > 1:  # each process's share is timed by the launcher's choice
            return available
        return self.measured_threads(available)

    def measured_threads(self, available: int) -> int:
        """1 or `available`: whichever runs the first batch's forward and backward faster,
        timed on a copy of the model (best of THREAD_PROBES in turns), `available` only
        when at least THREADS_GAIN times faster. Some hosts multiply faster on one thread
        than on two (a guest whose two vCPUs share a core), others gain 1.4x from two
        (docs/benchmarks.md, Scale); the thread count does not change the result."""
        batch = next(iter(self.batches(0)))
        probe = copy.deepcopy(self.model).train()
        generator = torch.Generator(device=self.device)
        previous = torch.get_num_threads()

        def seconds(threads: int) -> float:
            torch.set_num_threads(threads)
            generator.manual_seed(0)
            start = time.perf_counter()
            with self._autocast():
                loss = probe(batch, generator)
            loss.backward()
            probe.zero_grad(set_to_none=True)
            return time.perf_counter() - start

        try:
            seconds(available)  # warm-up: the first pass allocates
            one, many = math.inf, math.inf
            for _ in range(THREAD_PROBES):
                one = min(one, seconds(1))
                many = min(many, seconds(available))
        finally:
            torch.set_num_threads(previous)
        self.thread_timings = {1: one, available: many}
        return faster_threads(self.thread_timings)

    def _watch_rate(self, rate: float) -> None:
        """Re-measure a measured choice of several threads once an epoch runs SLOWDOWN
        times slower than the fastest so far: a process that arrived after the start makes
        the threads wait on each other (docs/ablations.md, "Threads measured at the start
        of training"). The rates then start afresh."""
        if not self.thread_timings or self._threads == 1:
            return
        self._best_rate = max(self._best_rate, rate)
        if rate * SLOWDOWN > self._best_rate:
            return
        self._threads = self.measured_threads(self._threads)
        torch.set_num_threads(self._threads)
        self._best_rate = 0.0

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
            self.generator.manual_seed(derived_seed(self.settings.seed, self.rank, self.epoch))
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
                float(sums[1]) * self.kind.steps_per_row(self.settings) / max(seconds, 1e-9),
            )
            self._watch_rate(report.points_per_second)
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

    def sampling_model(self) -> torch.nn.Module:
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
