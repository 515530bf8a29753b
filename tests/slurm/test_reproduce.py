"""slurm/reproduce.sh --rehearse on the real single-node Slurm: the whole graph at toy scale
(every job kind: Table 1 cells on a hybrid and a pair, their random controls, the Table 2 and
Figure 2 jobs (two budgets), Table 3's traces -> SFT -> tuned array -> finalize and the base, the report),
one cell cancelled mid-graph, then --resume.

CI cost: two models (qwen3_32b: one hybrid server; qwq_32b: a pair) on one dataset (aime24)
cover every job kind; the other two models and datasets only repeat them.
"""

from __future__ import annotations

import random
import re
import time

import pytest

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.server]

CANCELLED = "table1/qwq_32b_scale_aime24"
CONTROL = "table1/qwq_32b_random_aime24"  # afterok on it: Slurm kills it with its cell


def _submitted(stdout: str) -> dict[str, str]:
    return {name: job for job, name in re.findall(r"^\s*(\d+) (\S+)$", stdout, re.M)}


def _wait_all(jobs, ids: dict[str, str], timeout_s: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout_s
    return {name: jobs.wait(job, max(10.0, deadline - time.monotonic())) for name, job in ids.items()}


@pytest.mark.timeout(3000)  # ~10 min for the graph on a loaded 2-core box, a few more for the resume
def test_rehearsal_runs_the_whole_graph_and_resumes_a_cancelled_cell(jobs, tmp_path):
    root = tmp_path / "runs"
    args = ["--rehearse", "--models", "qwen3_32b,qwq_32b", "--datasets", "aime24", "--root", str(root),
            "--port", str(random.randrange(20000, 32000, 100))]  # below the ephemeral ports
    t0 = time.monotonic()
    proc = jobs.bash("slurm/reproduce.sh", *args, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ids = _submitted(proc.stdout)
    kinds = {line.split()[1] for line in proc.stdout.splitlines() if line.startswith(("table", "figure", "report"))}
    assert kinds == {"cell", "control", "sweep", "budget", "traces", "sft", "base", "tuned", "finalize", "report"}
    assert len(ids) == 19, proc.stdout
    jobs.cluster.run("scancel", ids[CANCELLED])  # mid-graph: the first cells are running
    states = _wait_all(jobs, ids, 2400)
    first_wall = time.monotonic() - t0
    assert states[CANCELLED] == "CANCELLED" and states[CONTROL] == "CANCELLED", states
    failed = {n: s for n, s in states.items() if n not in (CANCELLED, CONTROL) and s != "COMPLETED"}
    assert not failed, "\n".join(f"--- {n}\n{jobs.log(ids[n])[-2500:]}" for n in failed)
    for majority in ("table1/qwen3_32b_majority_aime24", "table1/qwq_32b_majority_aime24"):
        log = jobs.log(ids[majority])  # a CPU job that votes over its CoT cell: no server started
        assert "[eval.sbatch] job" in log and "serve_and_eval" not in log and "/health" not in log, log[-2000:]
    summary = (root / "reports" / "README.md").read_text()
    assert f"| {CANCELLED} | MISSING |" in summary and f"| {CONTROL} | MISSING |" in summary
    assert "15 of 17 jobs finished" in summary  # a finalize job counts with its array

    proc = jobs.bash("slurm/reproduce.sh", *args, "--resume", timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    again = _submitted(proc.stdout)
    assert set(again) == {CANCELLED, CONTROL, "report"}, proc.stdout  # only what is missing
    states = _wait_all(jobs, again, 1200)
    assert set(states.values()) == {"COMPLETED"}, {n: jobs.log(again[n])[-2500:] for n in states}
    print(f"rehearsal: {len(ids)} jobs in {first_wall:.0f} s; resume: {len(again)} jobs, "
          f"{time.monotonic() - t0 - first_wall:.0f} s")

    summary = (root / "reports" / "README.md").read_text()
    assert "17 of 17 jobs finished" in summary and "MISSING" not in summary and "REHEARSAL" in summary
    table1 = (root / "reports" / "table1" / "table1.md").read_text()
    for model in ("Qwen3-32B", "QwQ-32B (S1 Qwen3-32B)"):
        for method in ("CoT (S2)", "InftyThink", "MajVote@", "SCALE τ=0.5", "random control (matched)",
                       "SCALE − random"):
            row = next((r for r in table1.splitlines() if r.startswith(f"| {model} | {method}")), None)
            assert row is not None and row.split("|")[3].strip() != "–", (model, method, table1)  # filled
    assert table1.count("| *paper* |") == 8  # the paper's numbers under each of the 8 method rows
    table2 = (root / "reports" / "table2" / "table2.md").read_text()
    assert table2.count("τ=") == 8 and table2.count("| *paper* |") == 8
    assert (root / "reports" / "figure2" / "figures" / "figure2_budget.png").is_file()
    table3 = (root / "reports" / "table3" / "table3.md").read_text()
    assert "| *paper* |" in table3 and "→" in table3
