"""slurm/train_difficulty.sbatch on a real single-node Slurm: `accelerate launch
scripts/train_difficulty.py` with 2 CPU processes on 1 node, rank and rendezvous from Slurm."""

from __future__ import annotations

import json

import pytest

from tests.train.synthetic import write_traces

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def test_two_cpu_processes_on_one_node(jobs, tmp_path):
    traces = write_traces(tmp_path / "traces")
    out = tmp_path / "adapter"
    job = jobs.sbatch("--gpus-per-node=0", "--cpus-per-task=2", "slurm/train_difficulty.sbatch",
                      "--procs-per-node", "2", "--",
                      "model=tiny-qwen3", f"traces={traces}", f"output_dir={out}", "report_to=none", "train.epochs=1",
                      "max_length=96", "train.lr=5e-3")
    state = jobs.wait(job, 900)
    log = jobs.log(job)
    assert state == "COMPLETED", log[-4000:]
    assert "scripts/train_difficulty.py: 1 node(s) x 2 process(es), main 127.0.0.1:" in log  # NodeAddr, from scontrol
    ranks = json.loads((out / "difficulty.json").read_text())["training"]["ranks"]
    # Two processes trained together in one process group; only rank 0 wrote.
    assert sorted(r["rank"] for r in ranks) == [0, 1] and {r["world_size"] for r in ranks} == {2}
    assert len({r["pid"] for r in ranks}) == 2
    assert (out / "adapter_model.safetensors").is_file()
    assert "elapsed" in log.splitlines()[-1]
