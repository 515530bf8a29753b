"""A Hydra multirun through the submitit launcher (hydra/launcher=slurm) on a real single-node Slurm."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from scale.paths import REPO_ROOT
from scale.rundir import RunDir

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def test_two_job_multirun_through_submitit(jobs, tmp_path):
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "scale.cli.eval", "-m", "hydra/launcher=slurm",
           "experiment=debug", "data.limit=2", "runner.progress=false", "seed=0,1",
           f"run_dir={sweep}/seed${{seed}}", f"hydra.sweep.dir={sweep}/multirun",
           # This cluster's node has no GPUs and little memory to promise.
           "hydra.launcher.gpus_per_node=null", "hydra.launcher.cpus_per_task=1",
           "hydra.launcher.mem_gb=null", "hydra.launcher.timeout_min=10"]
    try:
        proc = subprocess.run(cmd, cwd=REPO_ROOT, env=jobs.cluster.client_env(jobs.env), capture_output=True,
                              text=True, timeout=420, check=False)
    except subprocess.TimeoutExpired:
        # Without accounting, submitit cannot see a job that died before writing its result.
        logs = "\n".join(p.read_text() for p in sweep.glob("multirun/.submitit/*/*.err"))
        pytest.fail(f"the sweep did not finish; job logs:\n{logs[-3000:]}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    submitted = sorted(p.name for p in (sweep / "multirun" / ".submitit").iterdir() if re.match(r"^\d+_\d+$", p.name))
    assert len(submitted) == 2, submitted  # two array tasks of one sbatch, as submitit submits them
    for seed in (0, 1):
        run = RunDir(sweep / f"seed{seed}")
        metrics = run.read_metrics()
        # Each Hydra job is a whole run (submitit's array index is not a shard).
        assert metrics.complete and metrics.n_attempts == 2
        assert run.read_config()["seed"] == seed
        assert not run.shard_files()
