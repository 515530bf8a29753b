"""The real `accelerate launch scripts/train_difficulty.py`: one and two CPU processes.

Two ranks must really train together (accelerate can silently run each process alone):
difficulty.json lists the ranks that took part, gathered over the process group, and only
rank 0 writes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scale.paths import CONFIG_DIR, REPO_ROOT

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "WANDB_MODE": "offline",
       "OMP_NUM_THREADS": "1"}
TRAIN = ["model=tiny-qwen3", "train.epochs=1", "max_length=96", "train.lr=5e-3"]


def launch(flags: list[str], overrides: list[str]) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "accelerate.commands.launch", *flags, str(REPO_ROOT / "scripts" / "train_difficulty.py"),
           *overrides]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=ENV, capture_output=True, text=True, timeout=420, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc


def card(folder: Path) -> dict:
    return json.loads((folder / "difficulty.json").read_text())


@pytest.mark.slow
def test_one_process_trains_and_logs_to_wandb_offline(traces_dir, tmp_path):
    out = tmp_path / "adapter"
    proc = launch(["--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no",
                   "--dynamo_backend", "no"], [f"traces={traces_dir}", f"output_dir={out}", *TRAIN])
    c = card(out)
    assert c["training"]["world_size"] == 1 and [r["rank"] for r in c["training"]["ranks"]] == [0]
    assert (out / "adapter_model.safetensors").is_file() and list((out / "checkpoints").glob("checkpoint-*"))
    assert list((out / "wandb").glob("offline-run-*")), "wandb did not log offline into output_dir/wandb"
    assert "validation AUROC" in proc.stdout


@pytest.mark.slow
def test_two_cpu_processes_train_together_and_only_rank0_writes(traces_dir, tmp_path):
    out = tmp_path / "adapter"
    proc = launch(["--config_file", str(CONFIG_DIR / "accelerate" / "ddp.yaml"), "--num_processes", "2"],
                  [f"traces={traces_dir}", f"output_dir={out}", "report_to=none", *TRAIN])
    ranks = card(out)["training"]["ranks"]
    assert sorted(r["rank"] for r in ranks) == [0, 1] and {r["world_size"] for r in ranks} == {2}
    assert len({r["pid"] for r in ranks}) == 2  # two processes, one process group
    log = proc.stdout + proc.stderr
    assert "rank 0/2" in log and "rank 1/2" in log
    assert log.count("wrote ") == 1  # only rank 0 writes
    # 56 training rows, batch 8 per rank, 2 ranks: 4 optimiser steps (one process: 7).
    assert card(out)["training"]["global_steps"] == 4


def test_accelerate_configs_load_with_accelerates_own_reader():
    from accelerate.commands.config.config_args import load_config_from_file

    ddp = load_config_from_file(str(CONFIG_DIR / "accelerate" / "ddp.yaml"))
    fsdp = load_config_from_file(str(CONFIG_DIR / "accelerate" / "fsdp.yaml"))
    assert str(ddp.distributed_type).endswith("MULTI_GPU") and ddp.mixed_precision == "no"
    assert str(fsdp.distributed_type).endswith("FSDP") and fsdp.fsdp_config["fsdp_version"] == 2
    assert fsdp.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"
