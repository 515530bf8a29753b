"""``scale-eval`` as a user runs it: a subprocess on the tiny model, one process (no shard variables)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.shard_env import SHARD_ENV

DEBUG = ("experiment=debug", "data.limit=2", "runner.progress=false")


def eval_env() -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    for key in SHARD_ENV:
        env.pop(key, None)
    return env


def eval_command(*overrides: str) -> list[str]:
    return [sys.executable, "-m", "scale.cli.eval", *overrides]


def run_eval_cli(run_dir: Path | str, *overrides: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """``scale-eval experiment=debug data.limit=2 run_dir=RUN_DIR OVERRIDES``, run to the end."""
    return subprocess.run(eval_command(*DEBUG, f"run_dir={run_dir}", *overrides), env=eval_env(),
                          capture_output=True, text=True, timeout=timeout, check=False)
