"""scripts/sft_on_traces.py for real: trl's SFTTrainer + peft LoRA on the tiny Qwen3, then the
tuned model (base + adapter) answers through the HF engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from scale.engine.hf_engine import HFEngine
from scale.models import load_model
from scale.paths import REPO_ROOT
from scale.rundir import RunDir
from scale.runner.run import run_eval
from scale.testing.config import compose
from tests.helpers.engine_requests import answer_once, user_request
from tests.helpers.optimizer_steps import count_optimizer_steps
from tests.helpers.shard_env import SHARD_ENV
from tests.sft.conftest import EXPECTED

FEW_STEPS = ["train.max_steps=3", "train.grad_accum=1", "train.lr=1e-2", "train.warmup_ratio=0",
             "train.logging_steps=1", "report_to=none"]


def _env() -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    for key in SHARD_ENV:
        env.pop(key, None)
    return env


def _lora_b(out) -> dict[str, torch.Tensor]:
    weights = load_file(out / "adapter_model.safetensors")
    assert weights and all(k.startswith("base_model.") for k in weights)
    return {k: v for k, v in weights.items() if "lora_B" in k}


@pytest.mark.tiny
def test_a_few_steps_move_the_adapter_and_the_tuned_model_answers(scale_traces, tmp_path, single_process):
    out = tmp_path / "sft"
    cmd = [sys.executable, "scripts/sft_on_traces.py", f"traces=[{scale_traces}]", f"output_dir={out}", *FEW_STEPS]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{EXPECTED['kept']} examples, 3 steps" in proc.stdout
    summary = json.loads((out / "sft.json").read_text())
    assert summary["steps"] == 3 and summary["examples"] == EXPECTED["kept"] and summary["world_size"] == 1
    assert len(summary["log"]) == 3 and all(r["loss"] > 0 for r in summary["log"])
    assert "4 of 12 attempts kept" in (out / "dataset_card.md").read_text()
    assert len((out / "sft_data.jsonl").read_text().splitlines()) == EXPECTED["kept"]
    assert not list(out.glob("*.bin"))  # safetensors only
    # LoRA's B matrices start at zero: non-zero after training means the adapter moved.
    b = _lora_b(out)
    assert len(b) == 2 * 7 and all(v.abs().max() > 0 for v in b.values())  # 2 layers x 7 modules
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == "tiny-qwen3"

    engine = HFEngine("tiny-qwen3", adapter=str(out), dtype="float32", device="cpu")
    completion = answer_once(engine, user_request("Mia has 12 apples. How many now?", 10))
    assert completion.text and completion.response_tokens == 10
    ids = torch.tensor([[1, 5, 9, 14]])
    with torch.no_grad():
        assert not torch.allclose(engine.model(ids).logits, load_model("tiny-qwen3", dtype="float32")(ids).logits)

    # Table 3 shape: experiment=table3_base and table3_tuned (CoT on System 1, the tuned one with the
    # adapter merged by the HF engine) on the tiny model, then scale-report --tuned.
    runs = {}
    for tag in ("base", "tuned"):
        runs[tag] = tmp_path / f"t3-{tag}"
        adapter = [f"table3.adapter={out}"] if tag == "tuned" else []
        run_eval(compose(f"experiment=table3_{tag}", "table3.model=tiny-qwen3", *adapter, "data=demo", "data.limit=2",
                         "n_samples=1", "systems.s1.sampling.max_new_tokens=8", "engine.device=cpu",
                         "runner.progress=false", f"run_dir={runs[tag]}"))
        assert RunDir(runs[tag]).read_metrics().complete
    tuned_cfg = RunDir(runs["tuned"]).read_config()
    assert tuned_cfg["systems"]["engines"]["main"]["adapter"] == str(out) and tuned_cfg["method"]["system"] == "s1"
    assert RunDir(runs["base"]).read_config()["systems"]["engines"]["main"]["adapter"] is None
    report = subprocess.run([sys.executable, "-m", "scale.cli.report", str(runs["base"]), str(runs["tuned"]),
                             "--out", str(tmp_path / "report"), "--tuned", f"{runs['base']}={runs['tuned']}"],
                            cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, timeout=300, check=False)
    assert report.returncode == 0, report.stderr[-2000:]
    assert "→" in (tmp_path / "report" / "table3.md").read_text()  # base -> tuned

    # A second run into the same folder is refused, naming what is there.
    again = subprocess.run(cmd, cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 2 and "already holds adapter_model.safetensors" in again.stderr


@pytest.mark.tiny
def test_resume_takes_only_the_steps_left(scale_traces, tmp_path, single_process):
    """resume=true continues from the last checkpoint: 3 steps, then resumed to 5, takes 2
    optimiser steps. A run that ignored the checkpoint would also end at step 5 (and echo
    resumed_from), but take 5 steps."""
    from scale.sft.config import SFTSettings
    from scale.sft.train import train

    def settings(*extra: str) -> SFTSettings:
        return SFTSettings.from_dict(compose(f"traces=[{scale_traces}]", f"output_dir={tmp_path / 'sft'}",
                                             *FEW_STEPS, *extra, config_name="sft"))

    first = train(settings())
    assert first is not None and first["steps"] == 3 and first["resumed_from"] is None
    with count_optimizer_steps() as taken:
        again = train(settings("train.max_steps=5", "resume=true"))
    assert again is not None and again["steps"] == 5
    assert str(again["resumed_from"]).endswith("checkpoint-3")
    assert taken[0] == 2, f"{taken[0]} optimiser steps after resuming at step 3 of 5"


@pytest.mark.slow
def test_accelerate_launch_two_cpu_processes(scale_traces, tmp_path):
    out = tmp_path / "sft"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "scripts/sft_on_traces.py", f"traces=[{scale_traces}]", f"output_dir={out}", *FEW_STEPS[:-2],
           "train.max_steps=2", "report_to=none"]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "sft.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 2  # two ranks really trained
    assert proc.stdout.count("examples, 2 steps") == 1  # only rank 0 reports (and writes)
    assert all(v.abs().max() > 0 for v in _lora_b(out).values())


@pytest.mark.tiny
def test_a_missing_or_uncached_base_model_is_one_line(scale_traces, tiny_model_dir, tmp_path, single_process):
    import shutil

    from scale.errors import ModelNotFoundError
    from scale.sft import SFTSettings
    from scale.sft.train import train

    def settings(base):
        return SFTSettings.from_dict({"base": base, "traces": [scale_traces], "output_dir": str(tmp_path / base[-6:]),
                                      "report_to": "none"})

    with pytest.raises(ModelNotFoundError) as err:  # HF_HUB_OFFLINE=1 (tests/conftest.py): not in the cache
        train(settings("Qwen/NoSuchModel"))
    assert str(err.value).startswith("model 'Qwen/NoSuchModel' could not be loaded (") and "\n" not in str(err.value)
    # Tokenizer and config there, weights not: the model load is the one that fails.
    weightless = shutil.copytree(tiny_model_dir, tmp_path / "weightless", ignore=shutil.ignore_patterns("*.safetensors"))
    with pytest.raises(ModelNotFoundError, match=f"^model '{weightless}' could not be loaded"):
        train(settings(str(weightless)))
