"""Shared fixtures: offline Hub, the shared benchmark data, the tiny and embedded models."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_MODE", "offline")

import pytest

from scale.paths import shared_data_dir


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
