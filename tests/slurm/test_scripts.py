"""The slurm/ scripts without a cluster: syntax, help, argument checks, server start-up faults."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from scale.paths import REPO_ROOT
from tests.helpers.serve_process import free_port

SLURM_DIR = REPO_ROOT / "slurm"
SCRIPTS = sorted([*SLURM_DIR.glob("*.sbatch"), SLURM_DIR / "submit_eval.sh", SLURM_DIR / "reproduce.sh"])
SBATCH = sorted(SLURM_DIR.glob("*.sbatch"))


def run(script: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120
        ) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))}
    base.update(SCALE_VENV=sys.prefix, HF_HUB_OFFLINE="1", **(env or {}))
    return subprocess.run(["bash", script, *args], cwd=REPO_ROOT, env=base, capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_every_script_is_there():
    names = {p.name for p in SCRIPTS}
    assert {"serve_and_eval.sbatch", "eval_array.sbatch", "finalize.sbatch", "train_difficulty.sbatch",
            "submit_eval.sh", "reproduce.sh", "paper_report.sbatch"} <= names


@pytest.mark.parametrize("path", [*SCRIPTS, SLURM_DIR / "common.sh", SLURM_DIR / "env.sh"], ids=lambda p: p.name)
def test_bash_syntax(path):
    proc = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_starts_with_its_submit_command_and_prints_help(path):
    second = path.read_text().splitlines()[1]
    launcher = "sbatch" if path.suffix == ".sbatch" else "bash"
    assert second.startswith(("# Submit:", "# Run:")) and re.search(rf"\b{launcher} (--\S+ )*slurm/{path.name} ", second), second
    proc = run(f"slurm/{path.name}", "--help")
    assert proc.returncode == 0, proc.stderr
    assert second[2:] in proc.stdout and "--help" in proc.stdout and "#SBATCH" not in proc.stdout


@pytest.mark.parametrize("path", SBATCH, ids=lambda p: p.name)
def test_sbatch_conventions(path):
    text = path.read_text()
    assert "#SBATCH --output=logs/%x-%j.out" in text
    assert "srun --kill-on-bad-exit=1" in text
    assert 'source "$SCALE_REPO/slurm/common.sh"' in text and "scale_setup" in text  # env.sh, elapsed time


BAD = [
    ("eval_array.sbatch", ["--shards", "2"], "--run-dir is required"),
    ("eval_array.sbatch", ["--run-dir", "r", "--shards", "two"], "--shards must be a whole number"),
    ("eval_array.sbatch", ["--run-dir", "r", "--shards", "2", "--", "run_dir=x"], "'run_dir=x' is not allowed"),
    ("eval_array.sbatch", ["--run-dir", "r", "--shards", "2"], "not an array task"),
    ("eval_array.sbatch", ["--run-dir", "r", "--bogus"], "unknown option '--bogus'"),
    ("eval.sbatch", [], "give the scale-eval overrides after --"),
    ("eval.sbatch", ["--", "-m", "data=aime24"], "'-m' is not allowed"),
    ("eval.sbatch", ["--gpus", "1"], "unknown option '--gpus'"),
    ("finalize.sbatch", [], "give at least one RUN_DIR"),
    ("finalize.sbatch", ["--nope", "r"], "unknown option '--nope'"),
    ("submit_eval.sh", ["--run-dir", "r"], "--shards is required"),
    ("submit_eval.sh", ["--shards", "2", "--run-dir", "r", "--tasks", "1-5"], "index 5 is outside 0..1"),
    ("submit_eval.sh", ["--shards", "2", "--run-dir", "r", "--tasks", "a"], "--tasks must be array indices"),
    ("submit_eval.sh", ["--shards", "0", "--run-dir", "r"], "--shards must be a whole number >= 1"),
    ("submit_eval.sh", ["--shards", "2", "--run-dir"], "--run-dir needs a value"),
    ("serve_and_eval.sbatch", ["--model", "m"], "--systems is required"),
    ("serve_and_eval.sbatch", ["--systems", "s"], "give --model M (hybrid), or both --s1-model and --s2-model"),
    ("serve_and_eval.sbatch", ["--systems", "s", "--s1-model", "a"], "both --s1-model and --s2-model"),
    ("serve_and_eval.sbatch", ["--systems", "s", "--model", "m", "--s2-model", "b"], "not both"),
    ("serve_and_eval.sbatch", ["--systems", "s", "--model", "m", "--tp", "0"], "--tp must be a whole number >= 1"),
    ("serve_and_eval.sbatch", ["--systems", "s", "--model", "m", "--port", "80"], "--port must be a whole number >= 1024"),
    ("serve_and_eval.sbatch", ["--systems", "s", "--model", "m", "--", "engine=hf"], "'engine=hf' is set by this script"),
    ("serve_and_eval.sbatch", ["--systems", "s", "--model", "m", "--s2-server-args", "x"], "are for a pair"),
    ("train_difficulty.sbatch", ["--procs-per-node", "x"], "--procs-per-node must be a whole number"),
    ("train_difficulty.sbatch", [], "not inside a Slurm job"),
    ("paper_report.sbatch", [], "give one PLAN_JSON"),
    ("paper_report.sbatch", ["no/plan.json"], "no/plan.json not found"),
]


@pytest.mark.parametrize(("script", "args", "message"), BAD, ids=[f"{s}:{' '.join(a)}" for s, a, _ in BAD])
def test_bad_arguments_fail_in_one_line(script, args, message):
    proc = run(f"slurm/{script}", *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {script}: ") and message in lines[0], proc.stderr


def test_submit_eval_composes_the_overrides_before_submitting():
    proc = run("slurm/submit_eval.sh", "--shards", "2", "--run-dir", "runs/x", "--", "data=no_such_benchmark")
    assert proc.returncode == 2
    assert "the overrides do not compose" in proc.stderr and "no_such_benchmark" in proc.stderr


def test_serve_and_eval_names_a_missing_engine():
    proc = run("slurm/serve_and_eval.sbatch", "--systems", "qwq_32b", "--model", "Qwen/Qwen3-32B",
               env={"SERVER_CMD": "true"})
    assert proc.returncode == 2
    assert "systems=qwq_32b has no engine 'main'" in proc.stderr and "--s1-model/--s2-model" in proc.stderr


def test_serve_and_eval_reports_a_server_that_dies_during_start_up():
    """A free port, not a fixed one: a listener already there would answer the health check."""
    port = str(free_port())
    proc = run("slurm/serve_and_eval.sbatch", "--systems", "tiny_qwen3", "--model", "tiny-qwen3", "--port", port,
               env={"SERVER_CMD": 'echo "cannot load $MODEL on port $PORT"; exit 3'})
    assert proc.returncode == 2
    assert "server 'main' exited during start-up" in proc.stderr
    assert f"cannot load tiny-qwen3 on port {port}" in proc.stderr  # the log's tail
    assert re.search(r"elapsed \d+ s, exit 2", proc.stdout)


def test_serve_and_eval_stops_a_server_that_never_gets_healthy():
    """On a free port: a fixed one with a listener already there would turn "never healthy" green."""
    proc = run("slurm/serve_and_eval.sbatch", "--systems", "tiny_qwen3", "--model", "tiny-qwen3",
               "--port", str(free_port()), "--health-timeout", "3", env={"SERVER_CMD": "sleep 300"})
    assert proc.returncode == 2
    assert "server 'main' not healthy after 3s" in proc.stderr
    pid = int(re.search(r"servers stopped \((\d+)\)", proc.stdout)[1])
    assert not os.path.exists(f"/proc/{pid}")  # the server's process group was killed
