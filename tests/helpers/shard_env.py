"""The environment variables that make a run one shard of several (scale.runner.shard), cleared
so that a test runs as a single process even inside a Slurm array, torchrun or submitit job."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

SHARD_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT",
             "SLURM_ARRAY_TASK_MIN", "SUBMITIT_EXECUTOR", "SCALE_SHARD_BY_ARRAY")


def clear_shard_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in SHARD_ENV:
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


@contextmanager
def single_process_env() -> Iterator[pytest.MonkeyPatch]:
    """The shard variables cleared until the block ends (for fixtures wider than one test)."""
    with pytest.MonkeyPatch.context() as mp:
        yield clear_shard_env(mp)
