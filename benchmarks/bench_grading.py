"""Grading: agreement with hand-labelled verdicts, and time per 1,000 gradings (fast path vs
Math-Verify workers), side by side in one run.

    python benchmarks/bench_grading.py
    python benchmarks/bench_grading.py --n 1000 --workers 2 --json-out runs/bench/grading.json

Agreement: every pair of ``tests/grading/grading_pairs.py`` is graded once; a pair agrees when
the verdict equals the human one (a timeout counts as a disagreement), reported per class.
Timing: ``Grader.grade`` (extraction + equivalence) over ``--n`` responses cycled from the pairs
that the in-process fast path settles, then from the pairs that need Math-Verify, with one
worker one at a time and with ``--workers`` workers from as many threads. Workers are started
and warmed before the clock; their start-up is reported on its own.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import runpy
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from scale.grading import Grader, extract_answer, normalize_gold

# Beside this script, not scale.paths.REPO_ROOT: --agreement-only may import an older scale.
PAIRS_FILE = Path(__file__).resolve().parents[1] / "tests" / "grading" / "grading_pairs.py"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--n", type=int, default=1000, help="gradings timed per setting")
    p.add_argument("--workers", type=int, default=2, help="workers for the parallel setting")
    p.add_argument("--timeout-s", type=float, default=5.0, help="Grader timeout_s")
    p.add_argument(
        "--agreement-only",
        action="store_true",
        help="skip timing (also runs against an older checkout: PYTHONPATH=OLD/ ...)",
    )
    p.add_argument("--json-out", type=Path, default=None, help="write every figure here as JSON")
    return p.parse_args(argv)


def load_pairs() -> list[Any]:
    return runpy.run_path(str(PAIRS_FILE))["PAIRS"]


def needs_worker(response: str, gold: str) -> bool:
    from scale.grading.fastpath import fast_equivalent

    answer = extract_answer(response).answer
    return answer is not None and fast_equivalent(normalize_gold(gold), answer) is None


def agreement(grader: Grader, pairs: list[Any]) -> dict[str, Any]:
    by_class: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    misses = []
    for pair in pairs:
        verdict = grader.grade(pair.response, pair.gold)
        agree = verdict.correct is pair.correct and verdict.reason != "timeout"
        by_class[pair.cls][0] += agree
        by_class[pair.cls][1] += 1
        if not agree:
            misses.append(f"{pair.cls}/{pair.id}: {verdict.reason} ({verdict.predicted!r})")
    total = sum(a for a, _ in by_class.values())
    return {
        "pairs": len(pairs),
        "agree": total,
        "agreement": total / len(pairs),
        "by_class": {k: {"agree": a, "pairs": n} for k, (a, n) in sorted(by_class.items())},
        "misses": misses,
    }


def per_1000(grader: Grader, items: list[tuple[str, str]], n: int, threads: int) -> float:
    """Seconds per 1,000 gradings of ``n`` items cycled from ``items``."""
    work = [items[i % len(items)] for i in range(n)]
    start = time.perf_counter()
    if threads == 1:
        for response, gold in work:
            grader.grade(response, gold)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(lambda item: grader.grade(*item), work))
    return (time.perf_counter() - start) * 1000 / n


def main(args: argparse.Namespace) -> dict[str, Any]:
    pairs = load_pairs()
    if args.agreement_only:
        with Grader(timeout_s=args.timeout_s, max_workers=args.workers) as grader:
            out = {"agreement": agreement(grader, pairs)}
        report_agreement(out["agreement"])
        return out
    items = [(p.response, p.gold) for p in pairs]
    slow, fast = [], []
    for item in items:
        (slow if needs_worker(*item) else fast).append(item)
    out: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "n": args.n,
        "workers": args.workers,
        "fast_items": len(fast),
        "worker_items": len(slow),
    }
    with Grader(timeout_s=args.timeout_s, max_workers=1) as one:
        start = time.perf_counter()
        one.grade(*slow[0])  # start and warm the worker
        out["worker_start_s"] = time.perf_counter() - start
        out["agreement"] = agreement(one, pairs)
        out["fast_s_per_1000"] = per_1000(one, fast, args.n, threads=1)
        out["worker1_s_per_1000"] = per_1000(one, slow, args.n, threads=1)
    with Grader(timeout_s=args.timeout_s, max_workers=args.workers) as many:
        with ThreadPoolExecutor(args.workers) as pool:  # start and warm every worker
            list(pool.map(lambda item: many.grade(*item), slow[:8]))
        out["workersN_s_per_1000"] = per_1000(many, slow, args.n, threads=args.workers)
    extract_start = time.perf_counter()
    for i in range(args.n):
        extract_answer(items[i % len(items)][0])
    out["extract_s_per_1000"] = (time.perf_counter() - extract_start) * 1000 / args.n
    report(out)
    if args.json_out is not None:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(out, indent=2))
    return out


def report_agreement(agree: dict[str, Any]) -> None:
    print(f"agreement: {agree['agree']}/{agree['pairs']} = {100 * agree['agreement']:.1f}%")
    for cls, row in agree["by_class"].items():
        print(f"  {cls:<9} {row['agree']:>3}/{row['pairs']:<3}")
    for miss in agree["misses"]:
        print(f"  miss: {miss}")


def report(out: dict[str, Any]) -> None:
    report_agreement(out["agreement"])
    fast = out["fast_s_per_1000"]
    print(
        f"\nseconds per 1,000 gradings (n={out['n']}, {out['cpus']} CPUs; "
        f"{out['fast_items']} fast-path pairs, {out['worker_items']} Math-Verify pairs)"
    )
    print(f"  {'setting':<28} {'s/1000':>8} {'x fast path':>12}")
    rows = [
        ("extraction only", out["extract_s_per_1000"]),
        ("fast path (in-process)", fast),
        ("Math-Verify, 1 worker", out["worker1_s_per_1000"]),
        (f"Math-Verify, {out['workers']} workers", out["workersN_s_per_1000"]),
    ]
    for name, value in rows:
        print(f"  {name:<28} {value:>8.3f} {value / fast:>12.1f}")
    print(f"  worker start-up (spawn + warm-up): {out['worker_start_s']:.2f} s once")


if __name__ == "__main__":
    main(parse_args())
