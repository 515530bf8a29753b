"""SCALE pipeline: orchestration overhead and problem-level concurrency, side by side in one run.

    python benchmarks/bench_pipeline.py                                 # CPU, embedded SmolLM2, 16 GSM8K problems
    python benchmarks/bench_pipeline.py --problems 8 --json-out runs/bench/pipeline.json
    python benchmarks/bench_pipeline.py --override engine.max_batch_size=32 --override router.tau=0.3

Composes ``experiment=demo`` (then ``--data``/``--systems``, the budget flags and any
``--override``), loads the systems once and runs the same problems through the real
runner (``run_items``: SCALE, grading, records) twice: all at once (``--concurrency``
attempts in flight) and one at a time. Figures:

- orchestration overhead = concurrent wall time / engine busy time (wall seconds inside
  ``generate``); target <= 1.15.
- speedup = one-at-a-time wall / concurrent wall; target >= 3x at 16 problems.

Seeds derive from problem id and sample index, so both runs do the same work; total
generated tokens of each are printed to show it (batch numerics may flip a few tokens).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from scale.data import Problem, load_benchmark
from scale.engine.types import GenerationRequest, SamplingParams
from scale.grading import Grader
from scale.methods.base import Context
from scale.rundir import RecordWriter
from scale.runner.env import environment, machine_state
from scale.runner.run import build_method, run_items
from scale.systems import Systems, build_systems
from scale.testing.config import compose

OVERHEAD_MAX, SPEEDUP_MIN = 1.15, 3.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="gsm8k", help="benchmark (cycled with distinct ids if short)")
    p.add_argument("--problems", type=int, default=16, help="number of problems")
    p.add_argument("--concurrency", type=int, default=None,
                   help="attempts in flight in the concurrent run (default: --problems)")
    p.add_argument("--systems", default="smollm2", help="configs/systems/<name>.yaml")
    p.add_argument("--model", default=None, help="replace every engine's model (e.g. tiny-qwen3)")
    p.add_argument("--n-outlines", type=int, default=2)
    p.add_argument("--outline-max-tokens", type=int, default=96)
    p.add_argument("--s1-max-new-tokens", type=int, default=64)
    p.add_argument("--s2-max-new-tokens", type=int, default=96)
    p.add_argument("--difficulty-max-new-tokens", type=int, default=8)
    p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                   help="extra Hydra override (repeatable), applied last")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads (default: torch's choice; 1 is steadier on a busy box)")
    p.add_argument("--warmup", action=argparse.BooleanOptionalAction, default=True,
                   help="one untimed engine call and one grading first")
    p.add_argument("--json-out", type=Path, default=None, help="write every figure here as JSON")
    args = p.parse_args(argv)
    if args.problems < 1:
        p.error(f"--problems must be >= 1, got {args.problems}")
    args.concurrency = args.concurrency or args.problems
    return args


def compose_config(args: argparse.Namespace) -> dict[str, Any]:
    cfg = compose(
        "experiment=demo", f"data={args.data}", f"systems={args.systems}",
        f"method.n_outlines={args.n_outlines}", f"method.outline_max_tokens={args.outline_max_tokens}",
        f"systems.s1.sampling.max_new_tokens={args.s1_max_new_tokens}",
        f"systems.s2.sampling.max_new_tokens={args.s2_max_new_tokens}",
        f"difficulty.max_new_tokens={args.difficulty_max_new_tokens}",
        *args.override,
    )
    if args.model:
        for node in cfg["systems"]["engines"].values():
            node["model"] = args.model
    return cfg


def load_problems(name: str, n: int) -> list[Problem]:
    """The first ``n`` problems of ``name``; a shorter set is cycled with distinct ids."""
    base = load_benchmark(name, limit=n)
    out = []
    for i in range(n):
        p = base[i % len(base)]
        out.append(p if i < len(base) else dataclasses.replace(p, id=f"{p.id}#{i // len(base)}"))
    return out


# -- one timed run -------------------------------------------------------------------------
def _engines(systems: Systems) -> list:
    return list({id(e): e for e in systems.engines.values()}.values())


def _busy(systems: Systems) -> float | None:
    values = [getattr(e, "busy_seconds", None) for e in _engines(systems)]
    return None if None in values else sum(values)


def _prefill(systems: Systems) -> dict[str, float]:
    out: dict[str, float] = {}
    for e in _engines(systems):
        for k, v in (e.prefill_stats() if hasattr(e, "prefill_stats") else {}).items():
            out[k] = out.get(k, 0) + v
    return out


def _batch_sizes(systems: Systems) -> list[int]:
    return [s for e in _engines(systems) for s in getattr(e, "batch_sizes", [])]


async def timed_run(label: str, cfg: dict[str, Any], problems: list[Problem], systems: Systems,
                    grader: Grader, out_dir: Path, concurrency: int) -> dict[str, Any]:
    method = build_method(cfg)
    items = [(p, 0) for p in problems]
    if method.dataset_wide and concurrency < len(items):
        raise SystemExit(f"router {cfg['router'].get('name')!r} waits for every attempt (dataset-wide): "
                         "it cannot run one problem at a time; pick a per-step router")
    ctx = Context(systems=systems, seed=int(cfg.get("seed", 0)), grader=grader, n_attempts=len(items))
    method.prepare(problems, 1, ctx)
    for e in _engines(systems):  # each run starts cold: no prompt prefix from the other run
        if hasattr(e, "clear_prefix_cache"):
            e.clear_prefix_cache()
    busy_before, sizes_before, prefill_before = _busy(systems), len(_batch_sizes(systems)), _prefill(systems)
    writer = RecordWriter(out_dir / f"{label}.jsonl")
    start = time.perf_counter()
    try:
        records = await run_items(method, items, ctx, grader, writer, concurrency, progress=False)
    finally:
        writer.close()
    wall = time.perf_counter() - start
    busy_after = _busy(systems)
    busy = busy_after - busy_before if busy_after is not None and busy_before is not None else None
    sizes = _batch_sizes(systems)[sizes_before:]
    prefill = {k: v - prefill_before.get(k, 0) for k, v in _prefill(systems).items()}
    costs = [r.cost for r in records]
    return {
        "label": label, "concurrency": concurrency, "attempts": len(records), "wall_s": wall,
        "engine_busy_s": busy, "overhead_ratio": wall / busy if busy else None,
        "generated_tokens": sum(c["tok_total"] for c in costs),
        "prompt_tokens": sum(c["prompt_tokens"] for c in costs),
        "model_calls": sum(c["n_calls"] for c in costs), "generate_calls": len(sizes),
        "mean_batch": sum(sizes) / len(sizes) if sizes else 0.0,
        "correct": sum(r.correct for r in records), "by_stage": by_stage(costs),
        "tokens_by_problem": {r.problem_id: r.cost["tok_total"] for r in records},
        "prefill": prefill,
    }


def by_stage(costs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for cost in costs:
        for stage, s in cost["by_stage"].items():
            agg = out.setdefault(stage, {"calls": 0, "response_tokens": 0, "prompt_tokens": 0,
                                         "call_seconds": 0.0})
            agg["calls"] += s["calls"]
            agg["response_tokens"] += s["response_tokens"]
            agg["prompt_tokens"] += s["prompt_tokens"]
            agg["call_seconds"] += s["seconds"]
    return out


async def bench(args: argparse.Namespace, cfg: dict[str, Any], problems: list[Problem],
                out_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    systems = build_systems(cfg["systems"], cfg.get("engine"))
    try:
        with Grader(timeout_s=float(cfg.get("grading", {}).get("timeout_s", 5.0))) as grader:
            if args.warmup:  # thread pool, first forward pass, the grader's worker process
                probe = GenerationRequest(({"role": "user", "content": "1 + 1 ="},),
                                          SamplingParams(max_new_tokens=4))
                for engine in _engines(systems):
                    await engine.generate(probe)
                await grader.agrade("\\boxed{2}", "2")
            print(f"concurrent: {len(problems)} problems, {args.concurrency} in flight ...", flush=True)
            concurrent = await timed_run("concurrent", cfg, problems, systems, grader, out_dir,
                                         args.concurrency)
            print(f"  {concurrent['wall_s']:.1f} s", flush=True)
            print(f"one at a time: {len(problems)} problems ...", flush=True)
            sequential = await timed_run("sequential", cfg, problems, systems, grader, out_dir, 1)
            print(f"  {sequential['wall_s']:.1f} s", flush=True)
    finally:
        await systems.aclose()
    return concurrent, sequential


# -- report --------------------------------------------------------------------------------


def print_report(result: dict[str, Any]) -> None:
    runs = [result["concurrent"], result["sequential"]]
    print(f"\nSCALE on {result['problems']} {result['data']} problems; engines "
          f"{result['engines']}; budgets {result['budgets']}")
    header = (f"{'run':<12}{'in flight':>10}{'wall s':>9}{'engine s':>10}{'wall/eng':>10}{'tokens':>8}"
              f"{'calls':>7}{'gen calls':>10}{'batch':>7}{'correct':>8}")
    print(header)
    print("-" * len(header))
    for r in runs:
        busy = f"{r['engine_busy_s']:.1f}" if r["engine_busy_s"] is not None else "-"
        ratio = f"{r['overhead_ratio']:.3f}" if r["overhead_ratio"] else "-"
        print(f"{r['label']:<12}{r['concurrency']:>10}{r['wall_s']:>9.1f}{busy:>10}{ratio:>10}"
              f"{r['generated_tokens']:>8}{r['model_calls']:>7}{r['generate_calls']:>10}"
              f"{r['mean_batch']:>7.1f}{r['correct']:>8}")
    o, s, t = result["overhead"], result["speedup"], result["tokens"]
    if o["ratio"] is not None:
        print(f"orchestration overhead (concurrent wall / engine time) = {o['ratio']:.3f} "
              f"(target <= {OVERHEAD_MAX}) -> {'MET' if o['met'] else 'NOT MET'}")
    print(f"speedup ({result['problems']} concurrent vs one at a time) = {s['ratio']:.2f}x "
          f"(target >= {SPEEDUP_MIN:.0f}x) -> {'MET' if s['met'] else 'NOT MET'}")
    same = "identical" if t["match"] else "differ by {:.2f}%".format(t["diff_pct"])
    print(f"generated tokens: concurrent {t['concurrent']}, one at a time {t['sequential']} "
          f"({same}; {t['problems_differing']} problem(s) differ)")
    for r in runs:
        pf = r.get("prefill") or {}
        if pf.get("prompt_tokens"):
            print(f"prefill ({r['label']}): {pf['prompt_tokens']:.0f} prompt tokens, "
                  f"{pf['computed_tokens']:.0f} run through the model "
                  f"({1 - pf['computed_tokens'] / pf['prompt_tokens']:.0%} reused from the prefix cache), "
                  f"{pf['seconds']:.1f} s")
    print("\nper-stage ledger (call-seconds are per-call latencies summed; they overlap when concurrent)")
    header = (f"{'stage':<11}{'calls':>7}{'tok conc':>10}{'tok seq':>9}{'prompt tok':>11}"
              f"{'call-s conc':>12}{'call-s seq':>11}")
    print(header)
    print("-" * len(header))
    conc, seq = result["concurrent"]["by_stage"], result["sequential"]["by_stage"]
    for stage in sorted(set(conc) | set(seq)):
        c, q = conc.get(stage, {}), seq.get(stage, {})
        print(f"{stage:<11}{c.get('calls', 0):>7}{c.get('response_tokens', 0):>10}{q.get('response_tokens', 0):>9}"
              f"{c.get('prompt_tokens', 0):>11}{c.get('call_seconds', 0.0):>12.1f}"
              f"{q.get('call_seconds', 0.0):>11.1f}")


def main(args: argparse.Namespace) -> dict[str, Any]:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    cfg = compose_config(args)
    problems = load_problems(cfg["data"]["name"], args.problems)
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        concurrent, sequential = asyncio.run(bench(args, cfg, problems, Path(tmp)))
    overhead = concurrent["overhead_ratio"]
    speedup = sequential["wall_s"] / concurrent["wall_s"]
    tc, ts = concurrent["generated_tokens"], sequential["generated_tokens"]
    differing = sum(concurrent["tokens_by_problem"].get(p.id) != sequential["tokens_by_problem"].get(p.id)
                    for p in problems)
    result = {
        "data": cfg["data"]["name"], "problems": len(problems),
        "engines": {k: v.get("model") for k, v in cfg["systems"]["engines"].items()},
        "budgets": {"n_outlines": cfg["method"]["n_outlines"],
                    "outline_max_tokens": cfg["method"]["outline_max_tokens"],
                    "s1_max_new_tokens": cfg["systems"]["s1"]["sampling"]["max_new_tokens"],
                    "s2_max_new_tokens": cfg["systems"]["s2"]["sampling"]["max_new_tokens"],
                    "difficulty_max_new_tokens": cfg["difficulty"]["max_new_tokens"]},
        "config": {k: cfg[k] for k in ("method", "difficulty", "router", "systems", "engine")},
        "env": {**environment(), **machine_state()}, "concurrent": concurrent, "sequential": sequential,
        "overhead": {"ratio": overhead, "target_max": OVERHEAD_MAX,
                     "met": overhead is not None and overhead <= OVERHEAD_MAX},
        "speedup": {"ratio": speedup, "target_min": SPEEDUP_MIN, "met": speedup >= SPEEDUP_MIN},
        "tokens": {"concurrent": tc, "sequential": ts, "match": tc == ts,
                   "diff_pct": 100.0 * abs(tc - ts) / max(tc, ts, 1), "problems_differing": differing},
    }
    print_report(result)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json_out}")
    return result


if __name__ == "__main__":
    main(parse_args())
