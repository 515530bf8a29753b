"""The 8-point tau sweep two ways, side by side in one run: sweep=shared vs 8 independent runs.

    python benchmarks/bench_sweep.py                                   # CPU, embedded SmolLM2, the 10 demo problems, greedy
    python benchmarks/bench_sweep.py --problems 4 --taus 0.3,0.6,0.9 --json-out runs/bench/sweep.json
    python benchmarks/bench_sweep.py --systems tiny_qwen3 --problems 2   # a smoke run

Composes ``experiment=demo`` (its cut budgets) with greedy decoding everywhere (both systems,
the outline samples, the scores), then runs the same points (``router.tau`` = each of
``--taus``) as 8 independent runs (``run_eval``, one after the other, each loading its own
systems as a separate job would) and as one shared sweep (``run_shared_sweep``: plan once
per attempt, route vectors as a prefix tree). Figures:

- generated tokens: response tokens of every model call made (independent: summed over the
  8 runs' records; shared: counted as the calls happen). Target: shared <= 40% of independent.
- wall time of each, and their ratio;
- how many per-point records are equal between the two (seconds aside): they should all be.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from scale.rundir import RunDir
from scale.runner.env import machine_state
from scale.runner.run import run_eval
from scale.runner.sweep import run_shared_sweep
from scale.testing import comparable
from scale.testing.config import compose

TOKEN_SHARE_MAX = 0.40
TAUS = "0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--systems", default="smollm2", help="configs/systems/<name>.yaml")
    p.add_argument("--problems", type=int, default=10, help="first N demo problems")
    p.add_argument("--taus", default=TAUS, help="comma-separated thresholds (the points)")
    p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                   help="extra Hydra override (repeatable), applied last")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    p.add_argument("--work-dir", type=Path, default=None, help="where the run dirs go (default: a temp dir)")
    p.add_argument("--json-out", type=Path, default=None, help="write every figure here as JSON")
    args = p.parse_args(argv)
    args.tau_list = [float(t) for t in args.taus.split(",")]
    return args


def point_configs(args: argparse.Namespace, root: Path) -> list[dict[str, Any]]:
    greedy = ["systems.s1.sampling.temperature=0.0", "systems.s2.sampling.temperature=0.0",
              "method.outline_temperature=0.0"]
    return [compose("experiment=demo", f"systems={args.systems}", f"data.limit={args.problems}",
                    "runner.progress=false", *greedy, *args.override, f"router.tau={t}",
                    f"run_dir={root / f'tau{t}'}") for t in args.tau_list]


def generated(run_dir: Path) -> tuple[int, int]:
    """(response tokens, calls) of every record of a run."""
    recs = RunDir(run_dir).collect().records.values()
    return sum(c["response_tokens"] for r in recs for c in r.ledger), sum(len(r.ledger) for r in recs)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    state = machine_state()
    print(f"{len(args.tau_list)} taus x {args.problems} problems, systems={args.systems}; machine {state}", flush=True)

    print("independent runs ...", flush=True)
    start = time.perf_counter()
    for cfg in point_configs(args, work / "independent"):
        run_eval(cfg)
    independent_s = time.perf_counter() - start
    tokens_calls = [generated(work / "independent" / f"tau{t}") for t in args.tau_list]
    independent_tokens = sum(t for t, _ in tokens_calls)
    independent_calls = sum(c for _, c in tokens_calls)
    print(f"  {independent_s:.1f} s, {independent_tokens} tokens", flush=True)

    print("shared sweep ...", flush=True)
    start = time.perf_counter()
    metrics, stats = run_shared_sweep(point_configs(args, work / "shared"))
    shared_s = time.perf_counter() - start
    print(f"  {shared_s:.1f} s, {stats.generated_tokens} tokens", flush=True)

    equal = total = 0
    per_point = []
    for t, m in zip(args.tau_list, metrics):
        a = RunDir(work / "shared" / f"tau{t}").collect().records
        b = RunDir(work / "independent" / f"tau{t}").collect().records
        same = sum(k in b and comparable(r) == comparable(b[k]) for k, r in a.items())
        equal, total = equal + same, total + len(b)
        per_point.append({"tau": t, "records_equal": same, "records": len(b),
                          "accuracy": m.accuracy if m else None, "s2_fraction": m.s2_fraction if m else None})
    share = stats.generated_tokens / independent_tokens if independent_tokens else 0.0
    result = {
        "machine": state, "systems": args.systems, "problems": args.problems, "taus": args.tau_list,
        "independent": {"wall_s": independent_s, "generated_tokens": independent_tokens, "calls": independent_calls},
        "shared": {"wall_s": shared_s, "generated_tokens": stats.generated_tokens, "calls": stats.calls,
                   "points_tokens": stats.point_generated_tokens},
        "route_vectors_per_attempt": stats.route_vectors / stats.attempts if stats.attempts else 0.0,
        "steps_solved": {"shared": stats.tree_steps, "independent": stats.point_steps},
        "token_share": share, "wall_share": shared_s / independent_s if independent_s else 0.0,
        "records_equal": equal, "records": total, "points": per_point,
        "target_token_share_max": TOKEN_SHARE_MAX, "target_met": share <= TOKEN_SHARE_MAX,
    }
    print()
    print("| mode | wall s | generated tokens | model calls |")
    print("|---|---|---|---|")
    print(f"| {len(args.tau_list)} independent runs | {independent_s:.1f} | {independent_tokens} | {independent_calls} |")
    print(f"| sweep=shared | {shared_s:.1f} | {stats.generated_tokens} | {stats.calls} |")
    print(f"| shared / independent | {result['wall_share']:.2f} | **{share:.3f}** | "
          f"{stats.calls / independent_calls if independent_calls else 0:.3f} |")
    print(f"distinct route vectors per attempt: {result['route_vectors_per_attempt']:.2f} of "
          f"{len(args.tau_list)}; steps solved: {stats.tree_steps} shared vs {stats.point_steps} independent")
    print(f"records equal: {equal} of {total}; target tokens <= {TOKEN_SHARE_MAX:.0%}: "
          f"{'met' if result['target_met'] else 'NOT met'}")
    for p in per_point:
        print(f"  tau={p['tau']}: s2_fraction {p['s2_fraction']:.3f}, accuracy {p['accuracy']:.2f}, "
              f"records equal {p['records_equal']}/{p['records']}")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
