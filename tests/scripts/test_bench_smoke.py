"""The benchmark scripts run end to end on tiny settings and write their JSON (tier 3).

    pytest tests/scripts/test_bench_smoke.py

Figures are not checked (a shared CPU makes them noise); keys and positive numbers are.
Continuous batching is left out: on CPU its paged cache takes ~60% of RAM (about 8 GB
here) and 15-60 s to set up, too much for this tier.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scale.paths import REPO_ROOT

pytestmark = pytest.mark.slow

# One torch thread: on a shared 2-core box, two OpenMP threads next to another busy process
# made the tiny pipeline run take 60 s instead of 10 s.
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}


def _run(script: str, args: list[str], out: Path, timeout: int = 240) -> dict:
    cmd = [sys.executable, str(REPO_ROOT / "benchmarks" / script), *args, "--json-out", str(out)]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads(out.read_text())


def _check_runs(result: dict, modes: list[str], concurrency: list[int]) -> None:
    assert result["unavailable"] == {}
    got = {(r["mode"], r["concurrency"]) for r in result["runs"]}
    assert got == {(m, c) for m in modes for c in concurrency}
    for r in result["runs"]:
        for key in ("wall_s", "generated_tokens", "tokens_per_s", "requests_per_s", "ratio_vs_sequential"):
            assert r[key] > 0, (key, r)
        assert r["generated_tokens"] <= r["budget_tokens"]
    for n in concurrency:
        assert set(result["ratios"][str(n)]) == {f"{m}/sequential" for m in modes if m != "sequential"}


def test_bench_engine_tiny_model(tiny_model_dir, tmp_path):
    result = _run("bench_engine.py", ["--model", "tiny-qwen3", "--concurrency", "4", "--max-new-tokens", "8",
                                      "--modes", "sequential,iteration,static"], tmp_path / "engine.json")
    _check_runs(result, ["sequential", "iteration", "static"], [4])
    assert result["roofline"] is None
    assert set(result["target"]) == {"concurrency", "min_ratio", "ratio", "met"}


def test_bench_engine_random_arch_roofline(tiny_model_dir, tmp_path):
    result = _run("bench_engine.py", ["--arch", "tiny", "--random-init", "--device", "cpu",
                                      "--concurrency", "1,2", "--max-new-tokens", "8", "--modes",
                                      "sequential,iteration", "--decode-tokens", "16", "--copy-gib", "0.05",
                                      "--reps", "2"], tmp_path / "engine-arch.json")
    _check_runs(result, ["sequential", "iteration"], [1, 2])
    roof = result["roofline"]
    for key in ("param_bytes", "copy_bytes_per_s", "decode_step_s", "bound_step_s", "step_over_bound"):
        assert roof[key] > 0, (key, roof)
    assert roof["bound_step_s"] == pytest.approx(roof["param_bytes"] / roof["copy_bytes_per_s"])


def test_bench_pipeline_tiny_model(tiny_model_dir, tmp_path):
    # 12 problems from the 10-problem demo set: the short set is cycled with distinct ids.
    result = _run("bench_pipeline.py", [
        "--systems", "tiny_qwen3", "--data", "demo", "--problems", "12", "--outline-max-tokens", "16",
        "--s1-max-new-tokens", "8", "--s2-max-new-tokens", "8", "--difficulty-max-new-tokens", "4",
        "--override", "systems.s2.budget.thinking_tokens=8", "--override", "systems.s2.budget.answer_tokens=4",
    ], tmp_path / "pipeline.json")
    assert result["problems"] == 12
    for run in (result["concurrent"], result["sequential"]):
        assert run["attempts"] == 12 and len(run["tokens_by_problem"]) == 12
        for key in ("wall_s", "engine_busy_s", "overhead_ratio", "generated_tokens", "model_calls"):
            assert run[key] > 0, (key, run)
        assert run["by_stage"]["decompose"]["calls"] > 0
    assert result["concurrent"]["concurrency"] == 12 and result["sequential"]["concurrency"] == 1
    assert result["overhead"]["ratio"] == result["concurrent"]["overhead_ratio"]
    assert result["speedup"]["ratio"] > 0
    assert set(result["tokens"]) == {"concurrent", "sequential", "match", "diff_pct", "problems_differing"}
