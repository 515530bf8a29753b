"""The single-node Slurm the `slurm` tests submit to, and helpers to submit the slurm/ scripts.

The session's cluster is private (tests/helpers/slurm_cluster.py: munged, slurmctld and
slurmd under a temp folder, stopped by PID at the end) wherever this machine can start one
(root, Debian slurm-wlm + munge installed); otherwise the cluster that already answers
(tests/conftest.py skips these tests when there is none). Jobs run this checkout's scripts
with this interpreter's environment; their logs go to a temp folder (SBATCH_OUTPUT).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scale.paths import REPO_ROOT
from tests.helpers.slurm_cluster import SlurmCluster, can_start


class Jobs:
    """Submit slurm/ scripts to ``cluster`` from the repository root and read their logs."""

    def __init__(self, cluster: SlurmCluster, log_dir: Path) -> None:
        self.cluster = cluster
        self.log_dir = log_dir
        self.env = {
            "SBATCH_OUTPUT": f"{log_dir}/%x-%j.out",  # beats the scripts' logs/%x-%j.out: no litter in the repo
            "SCALE_VENV": sys.prefix,
            "HF_HUB_OFFLINE": "1",
            "OMP_NUM_THREADS": "1",  # two jobs share a 2-core box
            "TOKENIZERS_PARALLELISM": "false",
            "PYTHONUNBUFFERED": "1",
            "WANDB_MODE": "offline",
        }

    def bash(self, script: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120
             ) -> subprocess.CompletedProcess:
        """Run a helper script (e.g. slurm/submit_eval.sh) on the "login node"."""
        return subprocess.run(["bash", script, *args], cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=timeout, check=False, env=self.cluster.client_env({**self.env, **(env or {})}))

    def sbatch(self, *args: str, env: dict[str, str] | None = None) -> str:
        return self.cluster.sbatch(list(args), env={**self.env, **(env or {})}, cwd=REPO_ROOT)

    def log(self, job_id: str) -> str:
        """The output of one job (an array task: its own job id, see task_ids)."""
        paths = sorted(self.log_dir.glob(f"*-{job_id}.out"))
        return "\n".join(p.read_text(errors="replace") for p in paths) or f"(no log for job {job_id})"

    def task_ids(self, array_id: str) -> dict[int, str]:
        """Array index -> that task's own job id (its log's name; to cancel or query one task
        use ARRAY_INDEX: one task carries the array's id, and scancel of that id hits them all)."""
        return {int(j["ArrayTaskId"]): job for job, j in self.cluster.jobs(array_id).items()
                if j.get("ArrayTaskId", "").isdigit()}

    def logs(self, array_id: str) -> str:
        return "\n".join(self.log(job) for job in self.task_ids(array_id).values())

    def wait(self, job_id: str, timeout_s: float = 600) -> str:
        state = self.cluster.wait_job(job_id, timeout_s)
        return state

    def submit_eval(self, run_dir: Path, shards: int, *overrides: str, tasks: str | None = None,
                    sbatch: str = "--gpus-per-node=0 --cpus-per-task=1") -> tuple[str, str, str]:
        """slurm/submit_eval.sh: (array job id, finalize job id, its stdout)."""
        args = ["--shards", str(shards), "--run-dir", str(run_dir), "--sbatch", sbatch]
        if tasks is not None:
            args += ["--tasks", tasks]
        proc = self.bash("slurm/submit_eval.sh", *args, "--", *overrides)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        ids = dict(re.findall(r"^(ARRAY_JOB|FINALIZE_JOB)=(\d+)$", proc.stdout, re.M))
        return ids["ARRAY_JOB"], ids["FINALIZE_JOB"], proc.stdout

    def wait_for(self, what: str, ready, timeout_s: float = 300) -> None:
        deadline = time.monotonic() + timeout_s
        while not ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} not within {timeout_s:g}s")
            time.sleep(0.2)


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A started single-node cluster (private when possible), stopped by PID at session end."""
    if can_start() is None:
        cluster = SlurmCluster(tmp_path_factory.mktemp("slurm-cluster"))
    else:
        cluster = SlurmCluster.existing()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def jobs(slurm_cluster, tmp_path) -> Jobs:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    return Jobs(slurm_cluster, log_dir)


def eval_env() -> dict[str, str]:
    """A clean environment for a single-process scale-eval (no shard variables)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    for key in [k for k in env if k.startswith("SLURM_") or k in ("RANK", "WORLD_SIZE", "LOCAL_RANK")]:
        env.pop(key)
    return env
