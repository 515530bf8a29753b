"""benchmarks/gpu_check_difficulty.py: runs where only torch, transformers and peft exist.

The CPU smoke test blocks Hydra, OmegaConf, trl, datasets and wandb (the GPU image lacks
them) and runs the script on a tiny shape; the `gpu` test runs the real Qwen3-0.6B shape.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from scale.paths import REPO_ROOT

SCRIPT = REPO_ROOT / "benchmarks" / "gpu_check_difficulty.py"
BLOCKED = ("hydra", "omegaconf", "trl", "datasets", "wandb")
RUN = """
import runpy, sys
for name in {blocked!r}:
    sys.modules[name] = None  # import fails, as in an image without it
sys.argv = [{script!r}, *{args!r}]
runpy.run_path({script!r}, run_name="__main__")
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {blocked!r} and sys.modules[m] is not None)
assert not loaded, loaded
"""


def run_check(args: list[str], tmp_path, timeout: int) -> dict:
    out = tmp_path / "gpu.json"
    code = RUN.format(blocked=BLOCKED, script=str(SCRIPT), args=[*args, "--json-out", str(out)])
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.tiny
def test_cpu_smoke_on_a_tiny_shape_without_hydra_trl_or_datasets(tmp_path):
    result = run_check(["--shape", "tiny", "--device", "cpu", "--dtype", "float32", "--seq", "32", "--batch", "4",
                        "--steps", "2", "--warmup", "1", "--score-batch", "8", "--score-reps", "1"], tmp_path, 180)
    train, score = result["train"], result["score"]
    assert train["samples_per_s"] > 0 and 0 < train["trainable_params"] < train["total_params"]
    assert score["rows"] == 8 and score["steps_per_s"] > 0 and score["scores_in_unit_interval"]


@pytest.mark.gpu
def test_qwen3_0_6b_shape_on_the_gpu(tmp_path):
    result = run_check(["--steps", "3", "--warmup", "1", "--score-reps", "2"], tmp_path, 600)
    assert result["device"].startswith("cuda") and result["train"]["peak_memory_gib"] > 0
    assert result["train"]["samples_per_s"] > 0 and result["score"]["steps_per_s"] > 0
