"""Devices, process groups and sampling. Never prints and never touches files: results
are returned as tensors and arrays."""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
from collections.abc import Iterator

import numpy as np
import torch

from alternators_cli.allocator import reuse_freed_memory
from alternators_cli.distributed_env import read_distributed_env
from alternators_cli.errors import BadInput
from alternators_cli.normalize import Normalizer
from alternators_cli.training_data import derived_seed

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



# ---- sampling ------------------------------------------------------------------------


def sample_chunks(
    model: torch.nn.Module,
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
    Chunks are yielded in order; at most 2 x workers are in flight. On the CPU the process
    keeps freed memory for reuse (allocator.py), as training does.
    """
    device = next(model.parameters()).device
    model.eval()
    if device.type == "cpu":
        reuse_freed_memory()  # no page faults for each chunk's fresh activations
    count = -(-n // chunk)  # chunks; their offsets are index * chunk (no list of them)

    def one(index: int) -> torch.Tensor:
        size = min(chunk, n - index * chunk)
        generator = torch.Generator(device=device).manual_seed(derived_seed(seed, index))
        with torch.inference_mode():
            x = model.sample(size, generator, all_steps=all_steps)
            return normalizer.decode_(x)

    workers = workers or torch.get_num_threads()
    if device.type != "cpu" or workers <= 1:
        for index in range(count):
            yield one(index)
        return
    if count == 1:  # one chunk: its matmuls are too small to split across threads
        with one_thread(device):
            x = one(0)
        yield x
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
    model: torch.nn.Module, normalizer: Normalizer, n: int, seed: int, all_steps: bool = False
) -> np.ndarray:
    """All n samples at once as a numpy array: (n, D) or (T, n, D)."""
    parts = [c.cpu().numpy() for c in sample_chunks(model, normalizer, n, seed, all_steps)]
    return np.concatenate(parts, axis=1 if all_steps else 0)
