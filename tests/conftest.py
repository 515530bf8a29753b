"""Shared fixtures: offline Hub, the shared benchmark data, the tiny and embedded models."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_MODE", "offline")

import pytest

from scale.paths import shared_data_dir
from tests.helpers.shard_env import clear_shard_env


@pytest.fixture(scope="session")
def shared_data():
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared benchmark data not found at {path} (set SCALE_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def tiny_model_dir():
    from scale.models import resolve_model

    return resolve_model("tiny-qwen3")


@pytest.fixture(scope="session")
def smollm2_dir():
    from scale.models import resolve_model

    return resolve_model("smollm2-135m-instruct")


@pytest.fixture
def single_process(monkeypatch):
    """A single process: the shard variables (tests/helpers/shard_env.py) cleared for this test.
    Returns the monkeypatch, for more changes."""
    return clear_shard_env(monkeypatch)


def _slurm_reason() -> str | None:
    """Why Slurm tests cannot run here (None when tests/slurm/conftest.py can start its own
    single-node cluster, or a cluster answers)."""
    import shutil
    import subprocess

    from tests.helpers.slurm_cluster import can_start

    cannot = can_start()
    if cannot is None:
        return None
    if shutil.which("sinfo") is None:
        return f"no Slurm here: {cannot}"
    try:
        proc = subprocess.run(["sinfo", "-h"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError) as err:
        return f"Slurm not answering ({err})"
    return None if proc.returncode == 0 else f"Slurm not answering: {proc.stderr.strip()[:120]}"


def pytest_collection_modifyitems(config, items):
    """`gpu` and `slurm` tests skip themselves, saying why, where CUDA / a cluster is absent.
    With SCALE_REQUIRE_SLURM=1 (CI: .ci/run) a missing cluster fails the `slurm` tests instead,
    so a CI machine that lost its Slurm tier cannot stay green."""
    wants_gpu = any(item.get_closest_marker("gpu") for item in items)
    wants_slurm = any(item.get_closest_marker("slurm") for item in items)
    gpu_reason = slurm_reason = None
    if wants_gpu:
        import torch

        gpu_reason = None if torch.cuda.is_available() else "needs CUDA (no GPU on this machine)"
    if wants_slurm:
        slurm_reason = _slurm_reason()
    for item in items:
        if gpu_reason and item.get_closest_marker("gpu"):
            item.add_marker(pytest.mark.skip(reason=gpu_reason))
        if slurm_reason and item.get_closest_marker("slurm"):
            if os.environ.get("SCALE_REQUIRE_SLURM") == "1":
                item.stash[_SLURM_MISSING] = slurm_reason
            else:
                item.add_marker(pytest.mark.skip(reason=slurm_reason))


_SLURM_MISSING = pytest.StashKey[str]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Fails (before any fixture starts a cluster) a `slurm` test that must run but cannot."""
    missing = item.stash.get(_SLURM_MISSING, None)
    if missing:
        pytest.fail(f"SCALE_REQUIRE_SLURM=1, but {missing}", pytrace=False)
