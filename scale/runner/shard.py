"""This process's shard: ``accelerate launch``/torchrun ranks or a Slurm array task.

``SCALE_SHARD_BY_ARRAY``: ``auto`` (default: array tasks are shards unless submitit
launched them), ``1`` (always), ``0`` (never).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from scale.errors import ConfigError


@dataclass(frozen=True)
class Shard:
    rank: int
    world: int
    source: str
    launch: str = ""  # names one launch (torchrun's run id): done markers of an earlier one don't count

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def current_shard() -> Shard:
    env = os.environ
    # A Hydra/submitit sweep is also a Slurm array, but each task is a whole run, not a
    # shard: array sharding applies only to plain `sbatch --array` jobs (or when forced).
    array_shards = env.get("SCALE_SHARD_BY_ARRAY", "auto")
    use_array = array_shards == "1" or (array_shards == "auto" and "SUBMITIT_EXECUTOR" not in env)
    if use_array and "SLURM_ARRAY_TASK_ID" in env and "SLURM_ARRAY_TASK_COUNT" in env:
        rank = int(env["SLURM_ARRAY_TASK_ID"]) - int(env.get("SLURM_ARRAY_TASK_MIN", "0"))
        shard = Shard(rank, int(env["SLURM_ARRAY_TASK_COUNT"]), "slurm_array")
    elif "WORLD_SIZE" in env:
        launch = env.get("TORCHELASTIC_RUN_ID") or f"{env.get('MASTER_ADDR', '')}:{env.get('MASTER_PORT', '')}"
        shard = Shard(int(env.get("RANK", env.get("LOCAL_RANK", "0"))), int(env["WORLD_SIZE"]), "launcher",
                      launch)
    else:
        shard = Shard(0, 1, "single")
    if not 0 <= shard.rank < shard.world:
        raise ConfigError(f"shard rank {shard.rank} outside world size {shard.world} ({shard.source})")
    return shard
