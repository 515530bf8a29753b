"""This process's shard: ``accelerate launch``/torchrun ranks or a Slurm array task."""

from __future__ import annotations

import os
from dataclasses import dataclass

from scale.errors import ConfigError


@dataclass(frozen=True)
class Shard:
    rank: int
    world: int
    source: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def current_shard() -> Shard:
    env = os.environ
    if "SLURM_ARRAY_TASK_ID" in env and "SLURM_ARRAY_TASK_COUNT" in env:
        rank = int(env["SLURM_ARRAY_TASK_ID"]) - int(env.get("SLURM_ARRAY_TASK_MIN", "0"))
        shard = Shard(rank, int(env["SLURM_ARRAY_TASK_COUNT"]), "slurm_array")
    elif "WORLD_SIZE" in env:
        shard = Shard(int(env.get("RANK", env.get("LOCAL_RANK", "0"))), int(env["WORLD_SIZE"]), "launcher")
    else:
        shard = Shard(0, 1, "single")
    if not 0 <= shard.rank < shard.world:
        raise ConfigError(f"shard rank {shard.rank} outside world size {shard.world} ({shard.source})")
    return shard
