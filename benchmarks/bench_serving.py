"""The client at the paper's scale against the simulated vLLM server (issue 22).

    .venv/bin/python benchmarks/bench_serving.py --json-out runs/bench/serving.json
    .venv/bin/python benchmarks/bench_serving.py --methods scale --time-scale 100   # one cell
    .venv/bin/python benchmarks/bench_serving.py --methods none --faults 10000     # the fault run only

Per method (SCALE, CoT, MajVote, InftyThink): its Table 1 cell as shipped
(``experiment=table1/qwen3_32b_<method>_aime24``: 30 problems x 8 samples, MajVote one vote of 8,
the paper's budgets: 32,768 new tokens in a 40,960 window; runner.max_concurrency=auto, the
engine's 256 requests in flight; MajVote samples its votes anew, method.from_run=null) on
synthetic problems, run by ``scale-eval``'s runner against ``scale.testing.sim_server`` (a real
HTTP server in its own process; cost model and lengths: its docstring). Printed: the mean
batch the server ran, the wall time (simulated seconds = wall seconds x time scale) against
two lower bounds — every token at the full batch, and the longest attempt's chain of
sequential calls alone on the server — and the client's CPU seconds per HTTP request.
``--overhead N``: N tiny CoT attempts with 256 in flight (the client's CPU per request);
``--faults N``: N CoT attempts with 5% HTTP 500s and 1% dropped connections (every attempt
recorded once; errors = what got past the retries).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scale.rundir import RunDir
from scale.runner.run import run_eval
from scale.testing.config import compose
from scale.testing.sim_server import (
    SimConfig,
    SimProcess,
    batch_bound_s,
    cell_gpu_hours,
    chain_bound_s,
    kv_batch,
    sim_question,
)

# The Table 1 cells as shipped (Qwen3-32B, AIME24's settings), on synthetic problems.
CELLS = {m: [f"experiment=table1/qwen3_32b_{m}_aime24"] for m in ("scale", "cot", "majority", "inftythink")}
# The shipped MajVote cell votes over its CoT pair's records (method.from_run) and generates
# nothing; here it samples its 8 votes anew, the serving load of a MajVote cell on its own.
CELLS["majority"].append("method.from_run=null")


def write_problems(path: Path, n: int) -> Path:
    path.write_text("".join(json.dumps({"id": f"p{i:05d}", "question": sim_question(i, str(100 + i)),
                                        "answer": str(100 + i)}) + "\n" for i in range(n)))
    return path


def run_cell(tmp: Path, name: str, n_problems: int, sim: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """One run of the real runner against a fresh simulated server; the figures."""
    data = write_problems(tmp / f"{name}.jsonl", n_problems)
    run_dir = tmp / f"run-{name}"
    cfg = SimConfig(**sim)
    with SimProcess(**sim) as server:
        composed = compose(*overrides, f"data.path={data}", "engine=openai", f"run_dir={run_dir}",
                           "runner.progress=false")
        composed["systems"]["engines"]["main"]["base_url"] = server.url
        ru0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        metrics = run_eval(composed)
        wall, ru = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
        user, system = ru.ru_utime - ru0.ru_utime, ru.ru_stime - ru0.ru_stime
        cpu = user + system
        stats = server.stats()
    records = list(RunDir(run_dir).collect().records.values())
    lines = (run_dir / "records.jsonl").read_text().splitlines()
    keys = [(json.loads(x)["problem_id"], json.loads(x)["sample_idx"]) for x in lines]
    # Every HTTP request the client made: completions (answered or faulted) and /tokenize calls.
    http = stats["requests"] + stats["tokenize_requests"] + sum(stats["faults"][k] for k in ("500", "429", "drop"))
    sim_wall = stats["span_sim_s"]  # the simulated clock (real wall x time scale is also printed)
    bound_batch = batch_bound_s(cfg, stats["decode_tokens"], stats["prompt_tokens"])
    bound_chain = max(chain_bound_s(cfg, r.ledger) for r in records)
    b_kv = kv_batch(cfg, stats)  # a KV cache too small for max_batch sequences this long caps the batch
    bound_kv = batch_bound_s(cfg, stats["decode_tokens"], stats["prompt_tokens"], b_kv)
    return {
        "cell": name, "attempts": len(records), "n_samples": composed["n_samples"], "recorded_once": len(keys) == len(set(keys)) == len(records),
        "tokenize_requests": stats["tokenize_requests"], "concurrency": composed["runner"]["max_concurrency"], "engine_max_concurrency":
            composed["engine"]["max_concurrency"], "http_requests": http, "answered": stats["requests"],
        "faults": stats["faults"], "errors": metrics.n_errors, "never_served": stats["bodies_never_served"],
        "accuracy": metrics.accuracy, "tok_paper_mean": sum(r.cost.get("tok_paper", 0) for r in records) / len(records),
        "decode_tokens": stats["decode_tokens"], "mean_batch": stats["mean_batch"],
        "max_running": stats["max_running"], "starved_steps": stats["starved_steps"],
        "kv_blocked_steps": stats["kv_blocked_steps"], "steps": stats["steps"],
        "wall_s": wall, "wall_x_scale_s": wall * cfg.time_scale, "sim_wall_s": sim_wall, "bound_batch_s": bound_batch, "bound_chain_s": bound_chain,
        "wall_over_bound": sim_wall / max(bound_batch, bound_chain),
        "kv_batch": b_kv, "bound_batch_kv_s": bound_kv, "wall_over_kv_bound": sim_wall / max(bound_kv, bound_chain),
        "client_cpu_s": cpu, "client_user_s": user, "client_sys_s": system, "client_cpu_ms_per_request": 1000 * cpu / max(1, http),
        "client_user_ms_per_request": 1000 * user / max(1, http),
        "client_sys_ms_per_request": 1000 * system / max(1, http),  # kernel: sockets, each record's fsync
    }


def engine_overhead(n: int, time_scale: float, client: str = "engine") -> dict[str, Any]:
    """The HTTP client alone: ``n`` requests, 256 in flight, through OpenAIEngine.generate
    (``client="engine"``, aiohttp) or, side by side, the same bodies through a bare httpx
    AsyncClient (``"httpx"``, the engine's client before: what the switch saved)."""
    import asyncio

    import httpx

    from scale.engine.openai_engine import OpenAIEngine
    from scale.engine.types import GenerationRequest, SamplingParams

    with SimProcess(profile="cot", time_scale=time_scale, length_scale=0.1, max_batch=256) as server:
        engine = OpenAIEngine(server.url, "sim", max_concurrency=256)
        requests = [GenerationRequest(({"role": "user", "content": sim_question(i, "1")},),
                                      SamplingParams(max_new_tokens=4096, seed=i)) for i in range(n)]

        async def through_engine() -> tuple[int, int]:
            try:
                await asyncio.gather(*(engine.generate(r) for r in requests))
            finally:
                await engine.aclose()
            return engine.max_in_flight_seen, engine.attempts_total

        async def through_httpx() -> tuple[int, int]:
            gate, url = asyncio.Semaphore(256), httpx.URL(engine.url)
            limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
            async with httpx.AsyncClient(limits=limits, timeout=600, trust_env=False) as http:
                async def one(r: GenerationRequest) -> None:
                    async with gate:
                        (await http.post(url, json=engine.body(r))).raise_for_status()

                await asyncio.gather(*(one(r) for r in requests))
            return 256, n

        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        in_flight, tries = asyncio.run(through_engine() if client == "engine" else through_httpx())
        ru = resource.getrusage(resource.RUSAGE_SELF)
        stats = server.stats()
    user, system = ru.ru_utime - ru0.ru_utime, ru.ru_stime - ru0.ru_stime
    name = "engine-only (aiohttp)" if client == "engine" else "bare httpx, same bodies"
    return {"cell": name, "requests": tries, "max_in_flight": in_flight, "max_running": stats["max_running"],
            "client_user_ms_per_request": 1000 * user / tries, "client_sys_ms_per_request": 1000 * system / tries,
            "client_cpu_ms_per_request": 1000 * (user + system) / tries}


def gpu_hours_markdown() -> str:
    """Table 1's GPU-hours per cell from the cost model (scale.testing.sim_server.cell_gpu_hours)."""
    import yaml

    from scale.paths import REPO_ROOT

    table1 = yaml.safe_load((REPO_ROOT / "scale" / "report" / "paper_tables.yaml").read_text())["table1"]
    problems = {"aime24": 30, "aime25": 30, "amc23": 40}
    lines = ["| model / method | AIME24 | AIME25 | AMC23 | row |", "|---|---|---|---|---|"]
    total = 0.0
    for model, rows in table1.items():
        for method, cells in rows.items():
            # MajVote votes over its CoT cell's samples (method.from_run) on CPU: its GPU cost is CoT's.
            hours = [0.0 if method == "MajVote" else
                     cell_gpu_hours(method, cells[d][1], cells[d][2], n, "70b" if "70B" in model else "32b")
                     ["gpu_hours"] for d, n in problems.items()]
            total += sum(hours)
            lines.append(f"| {model} {method} | " + " | ".join(f"{h:.1f}" for h in hours) + f" | {sum(hours):.1f} |")
    return "\n".join(lines) + f"\n\nTable 1 in all: {total:.0f} GPU-hours busy (the MajVote cells: none)."


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", default="scale,cot,majority,inftythink", help="comma-separated, or none")
    p.add_argument("--problems", type=int, default=30)
    p.add_argument("--time-scale", type=float, default=100.0, help="simulated seconds per wall second")
    p.add_argument("--max-batch", type=int, default=256)
    p.add_argument("--kv-tokens", type=int, default=SimConfig.kv_tokens)
    p.add_argument("--overhead", type=int, default=2048, help="tiny CoT attempts for the CPU/request figure (0: skip)")
    p.add_argument("--faults", type=int, default=10_000, help="CoT attempts under faults (0: skip)")
    p.add_argument("--engine-overhead", type=int, default=2048, help="requests through the engine alone (0: skip)")
    p.add_argument("--clients", default="engine,httpx", help="the HTTP-client-alone figures, side by side: "
                   "engine (the OpenAIEngine, aiohttp), httpx (bare httpx, same bodies); e.g. engine,httpx,engine,httpx")
    p.add_argument("--gpu-hours", action="store_true", help="print slurm/README.md's GPU-hour table (no server) and exit")
    p.add_argument("--json-out", type=Path)
    args = p.parse_args()
    if args.gpu_hours:
        print(gpu_hours_markdown())
        return
    logging.basicConfig(level=logging.ERROR)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rows: list[dict[str, Any]] = []
    extra: list[dict[str, Any]] = []  # figures that are not a run (the engine alone)
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        # Warm-up (imports, first compose): one-time costs stay out of the CPU per request.
        run_cell(Path(tmp), "warmup", 4, dict(profile="cot", time_scale=1000, length_scale=0.001),
                 ["systems=qwen3_32b", "method=cot_s2"])
        for name in [m for m in args.methods.split(",") if m and m != "none"]:
            sim = dict(profile=name, time_scale=args.time_scale, max_batch=args.max_batch, kv_tokens=args.kv_tokens)
            rows.append(run_cell(Path(tmp), name, args.problems, sim, CELLS[name]))
            print(json.dumps(rows[-1]), flush=True)
        # Client overhead: many short requests, 256 in flight, one POST per attempt (no /tokenize).
        quick = ["systems=qwen3_32b", "method=cot_s2", "systems.s2.context_length=null"]
        if args.overhead:
            # ~740-token replies: each lives long enough on the server for 256 to be in flight.
            sim = dict(profile="cot", time_scale=args.time_scale, length_scale=0.1, max_batch=256)
            rows.append(run_cell(Path(tmp), "overhead", args.overhead, sim, quick))
            print(json.dumps(rows[-1]), flush=True)
            # The same cell twice as large: the difference is the CPU of the extra requests alone,
            # without a run's fixed costs (compose, run dir, merge, metrics).
            rows.append(run_cell(Path(tmp), "overhead2x", 2 * args.overhead, sim, quick))
            print(json.dumps(rows[-1]), flush=True)
            small, large = rows[-2], rows[-1]
            extra.append({"cell": "runner + engine, per extra request (overhead2x - overhead)",
                          "requests": large["http_requests"] - small["http_requests"], "max_in_flight": 256,
                          **{f"client_{k}_ms_per_request": 1000 * (large[f"client_{k}_s"] - small[f"client_{k}_s"])
                             / max(1, large["http_requests"] - small["http_requests"]) for k in ("cpu", "user", "sys")}})
            print(json.dumps(extra[-1]), flush=True)
        if args.engine_overhead:
            for client in [c for c in args.clients.split(",") if c]:
                extra.append(engine_overhead(args.engine_overhead, args.time_scale, client))
                print(json.dumps(extra[-1]), flush=True)
        if args.faults:
            sim = dict(profile="cot", time_scale=args.time_scale, length_scale=0.01, max_batch=256, p_500=0.05,
                       p_drop=0.01)
            rows.append(run_cell(Path(tmp), "faults", args.faults // 8, sim,
                                 [*quick, "n_samples=8", "engine.backoff_s=0.05", "engine.backoff_max_s=0.5"]))
            print(json.dumps(rows[-1]), flush=True)
    print(f"\n{'cell':<11}{'attempts':>9}{'max run':>8}{'mean b':>7}{'KV b':>6}{'wall s':>8}{'batch LB':>9}"
          f"{'KV LB':>7}{'chain LB':>9}{'wall/LB':>8}{'wall/KV LB':>11}{'CPU ms/req':>11}{'errors':>7}")
    for r in rows:
        print(f"{r['cell']:<11}{r['attempts']:>9}{r['max_running']:>8}{r['mean_batch']:>7.1f}{r['kv_batch']:>6.0f}"
              f"{r['sim_wall_s']:>8.0f}{r['bound_batch_s']:>9.0f}{r['bound_batch_kv_s']:>7.0f}{r['bound_chain_s']:>9.0f}"
              f"{r['wall_over_bound']:>8.2f}{r['wall_over_kv_bound']:>11.2f}{r['client_cpu_ms_per_request']:>11.2f}"
              f"{r['client_user_ms_per_request']:>6.2f}{r['client_sys_ms_per_request']:>6.2f}{r['errors']:>7}")
    for e in extra:
        print(f"{e['cell']}: {e['requests']} requests, {e['max_in_flight']} in flight, client CPU "
              f"{e['client_cpu_ms_per_request']:.2f} ms/request (user {e['client_user_ms_per_request']:.2f}, "
              f"sys {e['client_sys_ms_per_request']:.2f})")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows,
                                             "engine_only": extra},
                                            indent=2) + "\n")


if __name__ == "__main__":
    main()
