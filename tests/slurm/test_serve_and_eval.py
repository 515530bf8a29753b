"""slurm/serve_and_eval.sbatch for real: `transformers serve` in place of vLLM (SERVER_CMD), so
the server start, the /health wait, the OpenAI client run and the server stop all happen."""

from __future__ import annotations

import os

import pytest

from scale.models import resolve_model
from scale.rundir import RunDir
from tests.helpers.serve_process import free_port

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.server]

TRANSFORMERS_SERVE = 'transformers serve "$MODEL" --host 127.0.0.1 --port "$PORT" $SERVER_ARGS'


def test_serve_and_eval_with_transformers_serve(jobs, tmp_path):
    model = resolve_model("tiny-qwen3")  # the server is pinned to it; the client names it the same way
    run_dir = tmp_path / "run"
    job = jobs.sbatch("--gpus-per-node=0", "--cpus-per-task=2", "slurm/serve_and_eval.sbatch",
                      "--systems", "tiny_qwen3", "--model", model, "--port", str(free_port()),
                      "--health-timeout", "300", "--server-args", "--device cpu", "--max-num-seqs", "24", "--",
                      "experiment=debug", "data.limit=2", "engine.send_top_k=false", f"run_dir={run_dir}",
                      env={"SERVER_CMD": TRANSFORMERS_SERVE})
    state = jobs.wait(job)
    log = jobs.log(job)
    assert state == "COMPLETED", log[-3000:]
    assert "server 'main' healthy after" in log
    metrics = RunDir(run_dir).read_metrics()
    assert metrics.complete and metrics.n_attempts == 2 and metrics.n_errors == 0
    # The servers' batch reaches the client (runner.max_concurrency=auto keeps it full).
    assert RunDir(run_dir).read_config()["engine"]["max_concurrency"] == 24
    # The calls went through the server, which logged them (at least one per attempt).
    server_log = (jobs.log_dir / f"{job}-main.server.log").read_text()
    assert server_log.count("/v1/chat/completions") >= metrics.n_attempts
    # The server was stopped (its process group is gone).
    pid = int(log.split("servers stopped (")[1].split(")")[0])
    assert not os.path.exists(f"/proc/{pid}")
