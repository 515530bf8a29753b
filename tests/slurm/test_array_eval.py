"""An evaluation as a Slurm job array over shards + the finalize job, on a real single-node Slurm.

Both tests compare the merged run with a single-process run of the same work (tiny Qwen3,
fp32 on CPU, greedy), record for record and token for token, so a lost, doubled or altered
attempt fails them. Every call runs alone on both sides (``runner.max_concurrency=1``, no prefix
cache): shards would otherwise batch other calls together than one process does, and fp32
rounding that depends on the batch can flip a near-tied token of the random model, greedy or
sampled, on some CPUs (docs/determinism.md). Same batch make-up, so the tokens must be equal.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from scale.paths import REPO_ROOT
from scale.rundir import RunDir, read_records
from scale.testing import comparable_records
from tests.slurm.conftest import eval_env

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

# 3 problems x 2 samples, SCALE with greedy outlines
WORK = ["experiment=debug", "n_samples=2", "method.outline_temperature=0.0", "runner.progress=false",
        "runner.max_concurrency=1", "engine.prefix_cache_tokens=0"]
N_ATTEMPTS = 6
SAME_METRICS = ("n_attempts", "expected_attempts", "complete", "accuracy", "tok_paper", "tok_total",
                "prompt_tokens", "tpi", "steps_per_attempt", "s2_fraction", "failures", "n_errors")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """The same work in one process, no Slurm: records, metrics and wall time."""
    run_dir = tmp_path_factory.mktemp("single") / "run"
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "scale.cli.eval", *WORK, f"run_dir={run_dir}"], cwd=REPO_ROOT,
                          env=eval_env(), capture_output=True, text=True, timeout=600, check=False)
    seconds = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = read_records(run_dir / "records.jsonl")
    assert len(records) == N_ATTEMPTS
    return {"records": comparable_records(records, ledger_order=True),
            "metrics": RunDir(run_dir).read_metrics().to_dict(), "seconds": seconds}


def check_same_as_reference(run_dir, reference) -> None:
    run = RunDir(run_dir)
    assert not run.shard_files() and not run.done_markers(), "finalize left shard files behind"
    records = read_records(run.records)
    assert len(records) == N_ATTEMPTS and len({r.key for r in records}) == N_ATTEMPTS  # none lost, none doubled
    assert comparable_records(records, ledger_order=True) == reference["records"]
    metrics = run.read_metrics().to_dict()
    assert {k: metrics[k] for k in SAME_METRICS} == {k: reference["metrics"][k] for k in SAME_METRICS}


def test_array_of_two_shards_then_finalize_equals_single_process(jobs, reference, tmp_path):
    run_dir = tmp_path / "run"
    start = time.monotonic()
    array, final, _ = jobs.submit_eval(run_dir, 2, *WORK)
    state = jobs.wait(final)
    array_seconds = time.monotonic() - start
    assert state == "COMPLETED", jobs.log(final) + jobs.logs(array)
    assert jobs.cluster.state(array) == "COMPLETED"
    logs = jobs.logs(array)
    # Two real shards ran, each on its own half, and neither merged (finalize did).
    assert "shard 0/2: 3 attempts to run" in logs and "shard 1/2: 3 attempts to run" in logs, logs
    assert "array task 0/2 done" in logs and "array task 1/2 done" in logs
    assert "6 of 6" in jobs.log(final)
    check_same_as_reference(run_dir, reference)
    print(f"\nslurm array overhead: single process {reference['seconds']:.1f} s, "
          f"submit -> merged metrics {array_seconds:.1f} s (x{array_seconds / reference['seconds']:.2f})")


def test_cancelled_task_resubmitted_resumes_nothing_lost_or_doubled(jobs, reference, tmp_path):
    run_dir = tmp_path / "run"
    # One attempt at a time, so task 1 is cancelled with part of its shard recorded.
    work = WORK  # one attempt at a time already: the cancel lands between records
    array, final, _ = jobs.submit_eval(run_dir, 2, *work)
    shard1 = RunDir(run_dir).shard_file(1, 2)
    jobs.wait_for("task 1's first record", lambda: len(read_records(shard1)) >= 1)
    jobs.cluster.run("scancel", f"{array}_1")  # the task, not the array (whose id one task carries)
    assert jobs.wait(f"{array}_1", 120) == "CANCELLED"
    before = read_records(shard1)  # a line torn by the kill is dropped here and repaired on resume
    assert 1 <= len(before) < 3, f"task 1 recorded {len(before)} of 3 before the cancel"
    assert jobs.wait(f"{array}_0") == "COMPLETED"
    # The finalize job never runs on a failed array: afterok cannot be met.
    deadline = time.monotonic() + 30
    while jobs.cluster.jobs(final)[final].get("Reason") != "DependencyNeverSatisfied":
        assert time.monotonic() < deadline, jobs.cluster.jobs(final)
        time.sleep(0.5)
    assert not RunDir(run_dir).metrics.exists()

    again, final2, out = jobs.submit_eval(run_dir, 2, *work, tasks="1")
    assert f"cancelled stale finalize job {final}" in out
    assert jobs.wait(final2) == "COMPLETED", jobs.log(final2) + jobs.logs(again)
    assert jobs.cluster.state(final) == "CANCELLED"
    resumed = jobs.logs(again)
    assert f"shard 1/2: {3 - len(before)} attempts to run" in resumed, resumed  # only what was missing
    check_same_as_reference(run_dir, reference)
