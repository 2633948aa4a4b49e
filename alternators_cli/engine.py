"""Training and sampling engine. Never prints and never touches files: progress leaves
through a callback, results are returned as tensors and plain dicts."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from alternators_cli.data import draw_builtin
from alternators_cli.errors import BadInput, RunFailure
from alternators_cli.model import Alternator
from alternators_cli.settings import TrainSettings

SAMPLE_CHUNK = 65_536  # points per sampling chunk: memory stays flat in n


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


@dataclass
class Normalizer:
    """x_norm = (x - mean) / scale. One shared scale keeps the data's aspect ratio."""

    mean: np.ndarray  # (D,)
    scale: np.ndarray  # (D,)

    @classmethod
    def fit(cls, x: np.ndarray) -> Normalizer:
        mean = x.mean(axis=0)
        spread = float(np.sqrt(((x - mean) ** 2).mean()))
        scale = np.full(x.shape[1], spread if spread > 0 else 1.0)
        return cls(mean.astype(np.float32), scale.astype(np.float32))

    def encode(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale).astype(np.float32)

    def decode_(self, x: torch.Tensor) -> torch.Tensor:
        """In place on a tensor of normalised points (..., D)."""
        mean = torch.as_tensor(self.mean, device=x.device)
        scale = torch.as_tensor(self.scale, device=x.device)
        return x.mul_(scale).add_(mean)

    def to_state(self) -> dict:
        return {"mean": torch.from_numpy(self.mean), "scale": torch.from_numpy(self.scale)}

    @classmethod
    def from_state(cls, state: dict) -> Normalizer:
        return cls(state["mean"].numpy(), state["scale"].numpy())


@dataclass
class TrainingData:
    """Either a built-in set (fresh points every epoch) or a fixed array of a user's data."""

    name: str
    dim: int
    columns: list[str]
    builtin: bool
    train: np.ndarray | None = None  # (N, D) data units, user files only
    heldout: np.ndarray | None = None  # (M, D) data units, user files only

    def epoch_points(self, epoch: int, settings: TrainSettings) -> np.ndarray:
        if self.builtin:
            # Seeded by (seed, epoch): a resumed run draws exactly the same points.
            seed = np.random.SeedSequence([settings.seed, epoch]).generate_state(1)[0]
            return draw_builtin(self.name, settings.epoch_size, int(seed))
        assert self.train is not None
        order = np.random.default_rng([settings.seed, epoch]).permutation(len(self.train))
        return self.train[order]

    def fit_points(self, settings: TrainSettings) -> np.ndarray:
        if self.builtin:
            return draw_builtin(self.name, 100_000, settings.seed + 7919)
        assert self.train is not None
        return self.train


def split_table(
    values: np.ndarray, heldout: float, seed: int, max_heldout: int = 20_000
) -> tuple[np.ndarray, np.ndarray]:
    """Random split of a user's rows into training and held-out parts."""
    n = len(values)
    order = np.random.default_rng(seed).permutation(n)
    k = min(int(round(n * heldout)), max_heldout, n - 1) if heldout > 0 else 0
    return values[order[k:]], values[order[:k]]


@dataclass
class EpochReport:
    epoch: int  # 1-based, epochs finished
    epochs: int
    loss: float
    seconds: float  # wall time of this epoch
    points_per_second: float


@dataclass
class Trainer:
    """Holds everything a run needs to continue: model, EMA, optimiser, schedule, RNG."""

    settings: TrainSettings
    data: TrainingData
    device: torch.device
    normalizer: Normalizer = field(init=False)
    model: Alternator = field(init=False)
    ema: AveragedModel = field(init=False)
    epoch: int = 0
    history: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        torch.manual_seed(self.settings.seed)
        self.normalizer = Normalizer.fit(self.data.fit_points(self.settings))
        self.model = Alternator(self.data.dim, self.settings.model_part()).to(self.device)
        self.ema = AveragedModel(
            self.model, multi_avg_fn=get_ema_multi_avg_fn(self.settings.ema), use_buffers=True
        )
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.settings.lr)
        total = self.settings.epochs * self.batches_per_epoch()
        warmup = max(1, total // 50)

        def lr_factor(step: int) -> float:
            # Linear warm-up for 2% of the run, then cosine decay to 5% of the peak.
            if step < warmup:
                return (step + 1) / warmup
            progress = min(1.0, (step - warmup) / max(1, total - warmup))
            return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))

        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_factor)
        self.generator = torch.Generator(device=self.device).manual_seed(self.settings.seed)

    def batches_per_epoch(self) -> int:
        n = self.settings.epoch_size if self.data.builtin else len(self.data.train)
        return max(1, math.ceil(n / self.settings.batch_size))

    def batches(self, epoch: int) -> Iterator[torch.Tensor]:
        points = self.normalizer.encode(self.data.epoch_points(epoch, self.settings))
        tensor = torch.from_numpy(points).to(self.device)
        bs = self.settings.batch_size
        for start in range(0, len(tensor), bs):
            yield tensor[start : start + bs]

    def run(self, on_epoch: Callable[[EpochReport], bool | None] | None = None) -> None:
        """Train until `settings.epochs`; `on_epoch` returning False stops after that epoch."""
        self.model.train()
        while self.epoch < self.settings.epochs:
            start = time.perf_counter()
            total, count = 0.0, 0
            for batch in self.batches(self.epoch):
                loss = self.model.loss(batch, self.generator)
                if not torch.isfinite(loss):
                    raise RunFailure(
                        f"loss became {loss.item()} at epoch {self.epoch + 1}; "
                        "try a lower --lr"
                    )
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                self.scheduler.step()
                self.ema.update_parameters(self.model)
                total += loss.item() * len(batch)
                count += len(batch)
            self.epoch += 1
            mean_loss = total / count
            self.history.append(mean_loss)
            seconds = time.perf_counter() - start
            report = EpochReport(
                self.epoch, self.settings.epochs, mean_loss, seconds,
                count * self.settings.steps / max(seconds, 1e-9),
            )
            if on_epoch is not None and on_epoch(report) is False:
                break

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
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "epoch": self.epoch,
            "history": list(self.history),
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["train_model"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
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
) -> Iterator[torch.Tensor]:
    """Yield samples in data units, chunk by chunk: (c, D), or (T, c, D) with all_steps.

    Chunk i is drawn from its own generator seeded by (seed, i), so the output depends
    only on the seed and n, and memory stays flat however large n is.
    """
    device = next(model.parameters()).device
    model.eval()
    with torch.inference_mode():
        for index, start in enumerate(range(0, n, chunk)):
            size = min(chunk, n - start)
            chunk_seed = int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
            generator = torch.Generator(device=device).manual_seed(chunk_seed)
            x = model.sample(size, generator, all_steps=all_steps)
            yield normalizer.decode_(x)


def sample(
    model: Alternator, normalizer: Normalizer, n: int, seed: int, all_steps: bool = False
) -> np.ndarray:
    """All n samples at once as a numpy array: (n, D) or (T, n, D)."""
    parts = [c.cpu().numpy() for c in sample_chunks(model, normalizer, n, seed, all_steps)]
    return np.concatenate(parts, axis=1 if all_steps else 0)
