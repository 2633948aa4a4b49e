"""The process's place in a torchrun launch, read from the environment torchrun sets."""

from __future__ import annotations

import os

from alternators_cli.errors import BadInput


def read_distributed_env() -> tuple[int, int, int]:
    """(RANK, WORLD_SIZE, LOCAL_RANK) from the environment torchrun sets; (0, 1, 0)
    without. A value that is not a whole number in range is bad input."""

    def read(name: str, default: int, least: int) -> int:
        text = os.environ.get(name, "").strip() or str(default)
        try:
            value = int(text)
        except ValueError:
            value = least - 1
        if value < least:
            raise BadInput(f"environment variable {name}={os.environ.get(name)!r}: expected a "
                           f"whole number >= {least} (as torchrun sets it)")
        return value

    rank, world_size = read("RANK", 0, 0), read("WORLD_SIZE", 1, 1)
    local_rank = read("LOCAL_RANK", 0, 0)
    if rank >= world_size:
        raise BadInput(f"environment variable RANK={rank} must be below WORLD_SIZE={world_size}")
    return rank, world_size, local_rank
