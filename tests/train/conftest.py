"""Fixtures of the classifier tests (inputs built in tests/train/synthetic.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.train.synthetic import write_traces


@pytest.fixture(scope="session")
def traces_dir(tmp_path_factory) -> Path:
    return write_traces(tmp_path_factory.mktemp("traces") / "traces")
