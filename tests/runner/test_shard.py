"""Shard detection from the environment: single process, launcher ranks, Slurm arrays, submitit."""

from __future__ import annotations

import pytest

from scale.errors import ConfigError
from scale.runner.shard import current_shard
from tests.helpers.shard_env import clear_shard_env


@pytest.fixture
def env(monkeypatch):
    return clear_shard_env(monkeypatch)


def test_single_process(env):
    s = current_shard()
    assert (s.rank, s.world, s.source) == (0, 1, "single")


def test_launcher_ranks(env):
    env.setenv("WORLD_SIZE", "4")
    env.setenv("RANK", "3")
    assert (current_shard().rank, current_shard().world) == (3, 4)


def test_slurm_array(env):
    env.setenv("SLURM_ARRAY_TASK_ID", "12")
    env.setenv("SLURM_ARRAY_TASK_MIN", "10")
    env.setenv("SLURM_ARRAY_TASK_COUNT", "4")
    s = current_shard()
    assert (s.rank, s.world, s.source) == (2, 4, "slurm_array")


def test_submitit_sweep_array_is_not_a_shard(env):
    env.setenv("SLURM_ARRAY_TASK_ID", "3")
    env.setenv("SLURM_ARRAY_TASK_COUNT", "16")
    env.setenv("SUBMITIT_EXECUTOR", "slurm")
    assert current_shard().world == 1
    env.setenv("SCALE_SHARD_BY_ARRAY", "1")
    assert current_shard().world == 16


def test_bad_rank(env):
    env.setenv("WORLD_SIZE", "2")
    env.setenv("RANK", "5")
    with pytest.raises(ConfigError, match="rank 5"):
        current_shard()
