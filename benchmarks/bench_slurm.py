"""The Slurm array path against one process, same work, side by side: submit -> merged metrics.

    .venv/bin/python benchmarks/bench_slurm.py --json-out runs/bench/slurm.json
    .venv/bin/python benchmarks/bench_slurm.py --shards 2 --repeats 2 -- experiment=debug data.limit=10 n_samples=2

Each repeat runs the work once as one `scale-eval` process and once as
`bash slurm/submit_eval.sh --shards N` (array tasks + the finalize job), alternating which
goes first, and times the array path from the submit command to the finalize job's end
(metrics.json written). The phases come from Slurm (submit/start/end times, 1 s resolution)
and the jobs' own "elapsed" lines. Uses the cluster Slurm's commands talk to when one answers,
else starts a private single-node one (tests/helpers/slurm_cluster.py: root, Debian slurm-wlm +
munge), stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the test harness's cluster helper

from tests.helpers.slurm_cluster import SlurmCluster, can_start  # noqa: E402

DEFAULT_WORK = ["experiment=debug", "n_samples=2", "method.outline_temperature=0.0"]
ENV = {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}


def _t(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def single(work: list[str], run_dir: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")} | ENV
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "scale.cli.eval", *work, "runner.progress=false", f"run_dir={run_dir}"],
                          cwd=REPO, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"single-process run failed:\n{proc.stderr[-2000:]}")
    return seconds


def array(cluster: SlurmCluster, work: list[str], run_dir: Path, shards: int, logs: Path) -> dict:
    env = cluster.client_env({**ENV, "SBATCH_OUTPUT": f"{logs}/%x-%j.out", "SCALE_VENV": sys.prefix})
    start = time.monotonic()
    wall0 = time.time()
    proc = subprocess.run(["bash", "slurm/submit_eval.sh", "--shards", str(shards), "--run-dir", str(run_dir),
                           "--sbatch", "--gpus-per-node=0 --cpus-per-task=1", "--", *work, "runner.progress=false"],
                          cwd=REPO, env=env, capture_output=True, text=True, check=False)
    submitted = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"submit failed:\n{proc.stdout}\n{proc.stderr}")
    ids = dict(re.findall(r"^(ARRAY_JOB|FINALIZE_JOB)=(\d+)$", proc.stdout, re.M))
    state = cluster.wait_job(ids["FINALIZE_JOB"], 1800)
    seconds = time.monotonic() - start
    if state != "COMPLETED" or not (run_dir / "metrics.json").is_file():
        raise SystemExit(f"array path ended {state}; logs in {logs}")
    tasks = list(cluster.jobs(ids["ARRAY_JOB"]).values())
    final = cluster.jobs(ids["FINALIZE_JOB"])[ids["FINALIZE_JOB"]]
    elapsed = {}
    for path in logs.glob("*.out"):
        m = re.search(r"\[(\w+\.sbatch)\] elapsed (\d+) s", path.read_text(errors="replace"))
        if m and path.stem.split("-")[-1] in {*(t["JobId"] for t in tasks), final["JobId"]}:
            elapsed.setdefault(m[1], []).append(int(m[2]))
    first_start = min(_t(t["StartTime"]) for t in tasks)
    last_end = max(_t(t["EndTime"]) for t in tasks)
    return {
        "seconds": seconds, "submit_command_s": submitted,
        "queue_to_first_task_s": first_start - wall0,
        "task_elapsed_s": sorted(elapsed.get("eval_array.sbatch", [])),
        "last_task_end_to_finalize_start_s": _t(final["StartTime"]) - last_end,
        "finalize_elapsed_s": elapsed.get("finalize.sbatch", [None])[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("work", nargs="*", help=f"scale-eval overrides (after --; default {' '.join(DEFAULT_WORK)})")
    args = parser.parse_args()
    work = args.work or DEFAULT_WORK
    tmp = Path(tempfile.mkdtemp(prefix="bench-slurm-"))
    cluster = SlurmCluster(tmp / "cluster") if can_start() is None else SlurmCluster.existing()
    cluster.start()
    runs = []
    try:
        for rep in range(args.repeats):
            row: dict = {"repeat": rep}
            order = ["single", "array"] if rep % 2 == 0 else ["array", "single"]
            for what in order:
                run_dir = tmp / f"{what}-{rep}" / "run"
                if what == "single":
                    row["single_s"] = single(work, run_dir)
                else:
                    logs = tmp / f"logs-{rep}"
                    logs.mkdir()
                    row["array"] = array(cluster, work, run_dir, args.shards, logs)
            row["ratio"] = row["array"]["seconds"] / row["single_s"]
            runs.append(row)
            a = row["array"]
            print(f"repeat {rep}: single {row['single_s']:.1f} s, array {a['seconds']:.1f} s (x{row['ratio']:.2f}); "
                  f"submit cmd {a['submit_command_s']:.1f} s, to first task {a['queue_to_first_task_s']:.0f} s, "
                  f"tasks {a['task_elapsed_s']} s, to finalize {a['last_task_end_to_finalize_start_s']:.0f} s, "
                  f"finalize {a['finalize_elapsed_s']} s", flush=True)
    finally:
        cluster.stop()
    result = {"work": work, "shards": args.shards, "cpus": os.cpu_count(), "cluster": "existing" if cluster.external
              else "private single-node", "runs": runs,
              "mean_ratio": sum(r["ratio"] for r in runs) / len(runs)}
    print(f"mean array / single: x{result['mean_ratio']:.2f}")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
