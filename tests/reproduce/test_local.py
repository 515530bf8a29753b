"""The reproduction plan without Slurm (``--local``: one job after another on this machine):
Table 2's sweep=shared job through serve_and_eval.sbatch against `transformers serve` (at toy
scale), then the final report; a second run with --resume skips the finished sweep."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest

from scale.paths import REPO_ROOT
from scale.rundir import RunDir

pytestmark = [pytest.mark.slow, pytest.mark.server]


def _reproduce(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))}
    env.update(SCALE_VENV=sys.prefix, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PATH=f"{sys.prefix}/bin:{env['PATH']}")
    return subprocess.run(["bash", "slurm/reproduce.sh", *args], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=900, check=False)


@pytest.mark.timeout(1800)
def test_local_mode_runs_jobs_in_order_and_resumes(tmp_path):
    root = tmp_path / "runs"
    args = ["--local", "--rehearse", "--only", "table2", "--datasets", "aime24", "--root", str(root),
            "--port", str(random.randrange(12000, 18000, 10))]
    proc = _reproduce(*args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "ok     table2 (" in proc.stdout and "ok     report (" in proc.stdout
    for tau in ("0.2", "0.5", "0.9"):
        assert RunDir(root / "table2" / f"aime24-tau{tau}").read_metrics().complete
    table2 = (root / "reports" / "table2" / "table2.md").read_text()
    assert table2.count("τ=") == 8 and table2.count("| *paper* |") == 8
    assert "1 of 1 jobs finished" in (root / "reports" / "README.md").read_text()

    again = _reproduce(*args, "--resume")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "table2 " in again.stdout and "(complete: skipped)" in again.stdout
    assert "ok     table2 (" not in again.stdout and "ok     report (" in again.stdout
