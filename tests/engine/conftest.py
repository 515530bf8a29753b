"""Fixtures for the engine tests: one real ``transformers serve`` per test module."""

from __future__ import annotations

import pytest

from tests.helpers.serve_process import ServeProcess


@pytest.fixture(scope="module")
def smol_server(tmp_path_factory):
    """SmolLM2-135M-Instruct behind ``transformers serve`` on 127.0.0.1 (CPU, offline)."""
    log_path = tmp_path_factory.mktemp("serve") / "transformers-serve.log"
    server = ServeProcess(
        "smollm2-135m-instruct",
        device="cpu",
        # One torch thread: on a shared 2-core box, 2 threads competing with other processes
        # made 8 short requests take 18-48 s instead of ~6 s.
        env={"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"},
        log_path=log_path,
        startup_timeout_s=180,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
