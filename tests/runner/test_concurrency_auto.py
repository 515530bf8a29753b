"""runner.max_concurrency=auto sizes the attempts in flight from the engines (issue 22, item 3).

engine=openai: the sum of the used servers' engine.max_concurrency; HF on CUDA: its
engine.max_batch_size; HF on CPU and engines that state no capacity: 16. A run against the
simulated server (a real HTTP server) keeps engine.max_concurrency requests in flight.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import torch

from scale.errors import ConfigError
from scale.runner.run import CPU_CONCURRENCY, RunSettings, concurrency_for, run_eval
from scale.systems import build_systems
from scale.testing import Rule, ScriptedEngine, scripted_systems
from scale.testing.config import compose
from scale.testing.sim_server import SimProcess, sim_question


def _systems(*overrides: str):
    cfg = compose(*overrides)
    return build_systems(cfg["systems"], cfg["engine"])


def test_auto_is_the_default_and_numbers_still_work(tmp_path):
    cfg = compose(f"run_dir={tmp_path}")
    assert cfg["runner"]["max_concurrency"] == "auto"
    assert RunSettings.from_config(cfg).max_concurrency == "auto"
    assert RunSettings.from_config(compose(f"run_dir={tmp_path}", "runner.max_concurrency=7")).max_concurrency == 7


@pytest.mark.parametrize("value", ["many", 0, -3, 1.5, True])
def test_a_bad_setting_names_the_key(tmp_path, value):
    cfg = compose(f"run_dir={tmp_path}")
    cfg["runner"]["max_concurrency"] = value
    with pytest.raises(ConfigError, match=r"runner\.max_concurrency must be an integer >= 1 or auto"):
        RunSettings.from_config(cfg)


def test_openai_one_server_fills_its_batch():
    systems = _systems("systems=qwen3_32b", "engine=openai", "engine.max_concurrency=48")
    assert concurrency_for("auto", systems) == 48
    assert concurrency_for("auto", systems, {"s2"}) == 48  # one server behind both systems
    assert concurrency_for(5, systems) == 5


def test_openai_a_pair_of_servers_fills_both():
    systems = _systems("systems=qwq_32b", "engine=openai", "engine.max_concurrency=40",
                       "+systems.engines.s2.max_concurrency=24")
    assert concurrency_for("auto", systems) == 64
    assert concurrency_for("auto", systems, {"s2"}) == 24  # a method on System 2 only (CoT)


def test_the_default_openai_engine_batches_like_vllm():
    systems = _systems("systems=qwen3_32b", "engine=openai")
    assert concurrency_for("auto", systems) == 256


def test_engines_without_a_capacity_keep_sixteen():
    systems = scripted_systems(ScriptedEngine([Rule(reply="x")]))
    assert concurrency_for("auto", systems) == CPU_CONCURRENCY == 16


@pytest.mark.tiny
def test_hf_on_cpu_keeps_sixteen():
    systems = _systems("systems=tiny_qwen3", "engine.device=cpu", "engine.max_batch_size=64") \
        if _has_systems("tiny_qwen3") else _systems("engine.device=cpu", "engine.max_batch_size=64")
    try:
        assert concurrency_for("auto", systems) == 16
    finally:
        asyncio.run(systems.aclose())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_hf_on_cuda_fills_its_batch():
    systems = _systems("engine.device=cuda", "engine.max_batch_size=96")
    try:
        assert concurrency_for("auto", systems) == 96
    finally:
        asyncio.run(systems.aclose())


def _has_systems(name: str) -> bool:
    from scale.paths import CONFIG_DIR

    return (CONFIG_DIR / "systems" / f"{name}.yaml").is_file()


def test_a_run_keeps_the_servers_batch_in_flight(tmp_path, single_process):
    """CoT, 20 problems x 4 samples with auto: the server sees engine.max_concurrency=32 at once."""
    data = tmp_path / "sim.jsonl"
    data.write_text("".join(json.dumps({"id": f"p{i}", "question": sim_question(i, str(i)), "answer": str(i)}) + "\n"
                            for i in range(20)))
    with SimProcess(max_batch=64, time_scale=10, length_scale=0.05, profile="cot") as sim:
        cfg = compose("method=cot_s2", f"data.path={data}", "systems=qwen3_32b", "engine=openai", "n_samples=4",
                      "engine.max_concurrency=32", f"run_dir={tmp_path / 'run'}", "runner.progress=false")
        cfg["systems"]["engines"]["main"]["base_url"] = sim.url
        metrics = run_eval(cfg)
        stats = sim.stats()
    assert metrics.n_errors == 0 and metrics.complete
    assert stats["max_running"] == 32  # the engine's cap, reached: auto let 32 attempts run
    assert stats["requests"] == 80


def test_every_table1_cell_runs_with_auto():
    """No cell sets the runner's concurrency, so each gets auto; one cell per method composed."""
    from scale.paths import CONFIG_DIR

    cells = sorted((CONFIG_DIR / "experiment" / "table1").glob("*.yaml"))
    assert len(cells) == 48 and not [c.name for c in cells if "concurrency" in c.read_text()]
    for method in ("cot", "majority", "inftythink", "scale"):
        cfg = compose(f"experiment=table1/qwq_32b_{method}_aime24", "engine=openai")
        assert cfg["runner"]["max_concurrency"] == "auto" and cfg["engine"]["max_concurrency"] == 256


def _sbatch(*args: str, env: dict[str, str] | None = None):
    import os
    import subprocess
    import sys

    from scale.paths import REPO_ROOT

    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))}
    base.update(SCALE_VENV=sys.prefix, HF_HUB_OFFLINE="1", **(env or {}))
    return subprocess.run(["bash", "slurm/serve_and_eval.sbatch", *args], cwd=REPO_ROOT, env=base,
                          capture_output=True, text=True, timeout=120, check=False)


def test_serve_and_eval_hands_the_batch_to_the_server():
    proc = _sbatch("--systems", "tiny_qwen3", "--model", "tiny-qwen3", "--port", "18917", "--max-num-seqs", "77",
                   env={"SERVER_CMD": 'echo "batch $MAX_NUM_SEQS"; exit 3'})
    assert proc.returncode == 2 and "batch 77" in proc.stderr  # the server's log tail


@pytest.mark.parametrize(("args", "message"), [
    (["--max-num-seqs", "0"], "--max-num-seqs must be a whole number >= 1"),
    (["--", "engine.max_concurrency=5"], "use --max-num-seqs N"),
])
def test_serve_and_eval_refuses_a_batch_it_does_not_set(args, message):
    proc = _sbatch("--systems", "tiny_qwen3", "--model", "m", *args)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr
