"""Engine throughput: one-by-one vs each batching scheduler, side by side in one run.

    python benchmarks/bench_engine.py                                   # CPU, embedded SmolLM2, 16 concurrent
    python benchmarks/bench_engine.py --concurrency 16,64 --json-out runs/bench/engine.json
    bash benchmarks/bench_engine_h200.sh                                # one GPU, both Qwen3 shapes, <= 10 min

The same mixed-budget requests (demo questions with distinct suffixes; budgets cycled from
``--max-new-tokens``) go through ``HFEngine`` four ways: ``sequential`` awaits them one
at a time on the iteration engine, and ``iteration``, ``static`` and ``continuous``
gather them on an engine with that ``scheduler`` (one decode step at a time with rows
joining and leaving / one padded ``generate`` / one persistent transformers
continuous-batching manager). Throughput is useful tokens/s: generated response tokens
(eos included, nothing past a row's stop) over wall seconds. CPU target with the
embedded model: the iteration scheduler >= 3x sequential at 16 concurrent requests.

``--arch`` builds a randomly initialised model of that shape (no Hub access) and adds a
roofline: the batch-1 decode step of plain ``generate`` vs parameter bytes / copy
bandwidth, and beside every run the tokens/s that streaming the weights and the rows'
KV cache once per decode step would allow at that bandwidth (the weight+KV roofline).
Random weights never emit end-of-turn, so every request spends its budget.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch

from scale.data import load_benchmark
from scale.engine.hf_engine import HFEngine
from scale.engine.types import GenerationRequest, SamplingParams
from scale.runner.env import environment, machine_state

MODES = ("sequential", "iteration", "static", "continuous")
DEFAULT = "iteration"  # the engine default; sequential runs on it and the target is read from it
TARGET_CONCURRENCY, TARGET_RATIO = 16, 3.0
GiB = 1024**3

# Shapes for --arch (random init; the tokenizer is the tiny-qwen3 one: SmolLM2 + think tags
# + Qwen3's chat template). vocab_size is raised to the tokenizer's length when smaller.
ARCHS: dict[str, dict[str, Any]] = {
    "qwen3-1.7b": dict(hidden_size=2048, num_hidden_layers=28, num_attention_heads=16,
                       num_key_value_heads=8, head_dim=128, intermediate_size=6144,
                       vocab_size=151936, tie_word_embeddings=True, max_position_embeddings=40960,
                       rms_norm_eps=1e-6, rope_parameters={"rope_type": "default", "rope_theta": 1e6}),
    "qwen3-8b": dict(hidden_size=4096, num_hidden_layers=36, num_attention_heads=32,
                     num_key_value_heads=8, head_dim=128, intermediate_size=12288,
                     vocab_size=151936, tie_word_embeddings=False, max_position_embeddings=40960,
                     rms_norm_eps=1e-6, rope_parameters={"rope_type": "default", "rope_theta": 1e6}),
    "tiny": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                 head_dim=32, intermediate_size=384, vocab_size=0, tie_word_embeddings=True,
                 max_position_embeddings=4096),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="smollm2-135m-instruct",
                   help="embedded name, local folder or cached Hub id (ignored with --arch)")
    p.add_argument("--arch", choices=sorted(ARCHS), help="build a random-init model of this shape")
    p.add_argument("--random-init", action="store_true", help="required with --arch (no Hub weights)")
    p.add_argument("--dtype", default="auto", help="auto | float32 | bfloat16 | float16")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--attn-implementation", default=None, help="e.g. sdpa, eager, flash_attention_2")
    p.add_argument("--concurrency", default="16", help="comma list of concurrent request counts")
    p.add_argument("--max-new-tokens", default="32,48,64,96", help="budgets cycled over requests")
    p.add_argument("--modes", default=",".join(MODES), help=f"comma list of {', '.join(MODES)}")
    p.add_argument("--max-batch-size", type=int, default=None,
                   help="engine max_batch_size (default: the largest concurrency)")
    p.add_argument("--batch-wait-s", type=float, default=0.01, help="engine batch_wait_s")
    p.add_argument("--sequential-max", type=int, default=None,
                   help="run the one-at-a-time mode only up to this concurrency; larger ones are compared "
                        "with the largest sequential run (tokens/s one at a time hardly depends on the count)")
    p.add_argument("--cb-cache-tokens", type=int, default=None,
                   help="continuous: paged cache size in tokens (default: 16384 on CPU, memory share on CUDA)")
    sampling = p.add_mutually_exclusive_group()
    sampling.add_argument("--greedy", dest="sampled", action="store_false", default=False,
                          help="greedy decoding (default)")
    sampling.add_argument("--sampled", dest="sampled", action="store_true",
                          help="temperature 0.6, top-p 0.95, top-k 20, one seed per request")
    p.add_argument("--warmup", action=argparse.BooleanOptionalAction, default=True,
                   help="untimed warm-up calls per engine first (continuous batching sets up on first use)")
    p.add_argument("--roofline", action=argparse.BooleanOptionalAction, default=None,
                   help="decode step time vs memory-bandwidth bound (default: on with --arch)")
    p.add_argument("--decode-tokens", type=int, default=256, help="roofline: tokens of the batch-1 decode")
    p.add_argument("--copy-gib", type=float, default=None,
                   help="roofline: copy size in GiB (default 4 on cuda, 0.25 on cpu)")
    p.add_argument("--reps", type=int, default=3, help="roofline: timed repetitions (median/best kept)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads (default: torch's choice; 1 is steadier on a busy box)")
    p.add_argument("--mode-timeout-s", type=float, default=900,
                   help="give up on one mode at one concurrency after this long (continuous: reported)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json-out", type=Path, default=None, help="write every figure here as JSON")
    args = p.parse_args(argv)
    args.concurrency = _ints(p, "--concurrency", args.concurrency)
    args.max_new_tokens = _ints(p, "--max-new-tokens", args.max_new_tokens)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in args.modes if m not in MODES]
    if bad or not args.modes:
        p.error(f"--modes: unknown {bad}; choose from {', '.join(MODES)}")
    if args.arch and not args.random_init:
        p.error("--arch needs --random-init (this benchmark never downloads weights)")
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.roofline is None:
        args.roofline = bool(args.arch)
    if args.copy_gib is None:
        args.copy_gib = 4.0 if args.device.startswith("cuda") else 0.25
    if args.cb_cache_tokens is None and not args.device.startswith("cuda"):
        args.cb_cache_tokens = 16384  # on CPU a memory share of RAM is GBs to allocate (64 x ~200 tokens fit)
    return args


def _ints(p: argparse.ArgumentParser, flag: str, text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        p.error(f"{flag}: expected comma-separated integers, got {text!r}")
    if not values or min(values) < 1:
        p.error(f"{flag}: expected positive integers, got {text!r}")
    return values


# -- requests ------------------------------------------------------------------------------
def make_requests(n: int, budgets: list[int], sampled: bool, seed: int) -> list[GenerationRequest]:
    """``n`` distinct short math prompts; request i gets budget ``budgets[i % len]``."""
    questions = [p.question for p in load_benchmark("demo")]
    out = []
    for i in range(n):
        text = f"{questions[i % len(questions)]} (Request {i + 1}: answer in \\boxed{{}}.)"
        params = dict(temperature=0.6, top_p=0.95, top_k=20, seed=seed + i) if sampled else {}
        sampling = SamplingParams(max_new_tokens=budgets[i % len(budgets)], **params)
        out.append(GenerationRequest(({"role": "user", "content": text},), sampling))
    return out


# -- random-init model ---------------------------------------------------------------------
def build_random_model(arch: str, dtype: str, device: str, out: Path, seed: int) -> Path:
    """Save a random-init Qwen3 of shape ``arch`` with the tiny-qwen3 tokenizer to ``out``."""
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    from scale.models import resolve_model

    tok = AutoTokenizer.from_pretrained(resolve_model("tiny-qwen3"))
    shape = dict(ARCHS[arch])
    shape["vocab_size"] = max(len(tok), shape["vocab_size"])
    config = Qwen3Config(**shape, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id)
    torch_dtype = torch.float32 if dtype == "auto" else getattr(torch, dtype)
    torch.manual_seed(seed)
    with torch.device(device):  # initialise on the device: seconds, not minutes, for 1.7B
        model = Qwen3ForCausalLM._from_config(config, dtype=torch_dtype)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    del model
    _empty_cache(device)
    return out


# -- throughput ----------------------------------------------------------------------------
async def run_mode(engine: HFEngine, mode: str, requests: list[GenerationRequest]) -> dict[str, Any]:
    engine.clear_prefix_cache()  # every mode starts cold: the same prompts ran in the previous mode
    sizes_before, busy_before = len(engine.batch_sizes), engine.busy_seconds
    prefill_before = engine.prefill_stats()
    _sync(engine)
    start = time.perf_counter()
    if mode == "sequential":
        completions = [await engine.generate(r) for r in requests]
    else:
        completions = await asyncio.gather(*(engine.generate(r) for r in requests))
    _sync(engine)
    wall = time.perf_counter() - start
    tokens = sum(c.response_tokens for c in completions)
    sizes = engine.batch_sizes[sizes_before:]
    return {
        "mode": mode, "concurrency": len(requests), "wall_s": wall,
        "generated_tokens": tokens, "budget_tokens": sum(r.sampling.max_new_tokens for r in requests),
        "tokens_per_s": tokens / wall, "requests_per_s": len(requests) / wall,
        "engine_busy_s": engine.busy_seconds - busy_before,
        "generate_calls": len(sizes), "max_batch": max(sizes, default=0),
        "finish_reasons": _count(c.finish_reason for c in completions),
        "prefill": {k: v - prefill_before.get(k, 0) for k, v in engine.prefill_stats().items()},
    }


async def warm_up(engine: HFEngine, requests: list[GenerationRequest], mode: str) -> None:
    """Untimed short calls: first-call costs (threads, kernels, the paged cache) stay out of the figures."""
    short = [dataclasses.replace(r, sampling=dataclasses.replace(r.sampling, max_new_tokens=8))
             for r in requests[: 1 if mode == "sequential" else 4]]
    await asyncio.gather(*(engine.generate(r) for r in short))


def make_engine(args: argparse.Namespace, model: str, scheduler: str) -> HFEngine:
    return HFEngine(model, dtype=args.dtype, device=args.device,
                    max_batch_size=args.max_batch_size or max(args.concurrency),
                    batch_wait_s=args.batch_wait_s, scheduler=scheduler,
                    attn_implementation=args.attn_implementation, cb_cache_tokens=args.cb_cache_tokens)


def _scheduler(mode: str) -> str:
    return DEFAULT if mode == "sequential" else mode


def _wanted(args: argparse.Namespace, mode: str, n: int) -> bool:
    return not (mode == "sequential" and args.sequential_max is not None and n > args.sequential_max)


async def throughput(args: argparse.Namespace, model: str) -> tuple[list[dict], dict[str, str], dict | None]:
    """The roofline (optional), then every mode at every concurrency on the same requests.

    One engine per scheduler at a time (loaded, warmed up, run at every concurrency, closed),
    so a GPU holds one copy of the model and one KV cache.
    """
    requests = make_requests(max(args.concurrency), args.max_new_tokens, args.sampled, args.seed)
    unavailable: dict[str, str] = {}
    runs: list[dict[str, Any]] = []
    roof = None
    schedulers: dict[str, list[str]] = {}
    for mode in args.modes:
        schedulers.setdefault(_scheduler(mode), []).append(mode)
    for scheduler, modes in schedulers.items():
        try:
            engine = make_engine(args, model, scheduler)
        except Exception as err:  # e.g. continuous batching not available here
            for mode in modes:
                unavailable[mode] = _one_line(err)
            continue
        try:
            if args.roofline and roof is None:
                print("roofline: copy bandwidth and batch-1 decode ...", flush=True)
                roof = roofline(engine.model, engine.tokenizer, args.device, args.decode_tokens,
                                int(args.copy_gib * GiB), args.reps)
            prompt_lens = [len(engine.render(r)) for r in requests]
            for mode in modes:
                if args.warmup:
                    try:
                        await asyncio.wait_for(warm_up(engine, requests, mode), args.mode_timeout_s)
                    except Exception as err:
                        if mode != "continuous":
                            raise
                        unavailable[mode] = _one_line(err)
                        continue
                for n in args.concurrency:
                    if not _wanted(args, mode, n) or mode in unavailable:
                        continue
                    try:
                        run = await asyncio.wait_for(run_mode(engine, mode, requests[:n]), args.mode_timeout_s)
                    except Exception as err:
                        if mode != "continuous":
                            raise
                        unavailable[mode] = _one_line(err)
                        continue
                    if roof is not None:
                        run.update(kv_roofline(roof, prompt_lens[:n], [r.sampling.max_new_tokens for r in requests[:n]],
                                               run["tokens_per_s"]))
                    runs.append(run)
                    _write_partial(args, runs, roof, unavailable)
                    bound = f"  (roofline {run['bound_tokens_per_s']:.0f} tok/s)" if "bound_tokens_per_s" in run else ""
                    print(f"  {mode:<10} c={n:<4} {run['wall_s']:8.2f} s  {run['tokens_per_s']:9.1f} tok/s{bound}",
                          flush=True)
        finally:
            await close_engine(engine)
            del engine
            _empty_cache(args.device)
    for r in runs:
        base = _sequential_base([x for x in runs if x["mode"] == "sequential"], r["concurrency"])
        r["ratio_vs_sequential"] = r["tokens_per_s"] / base["tokens_per_s"] if base else None
        r["sequential_base_concurrency"] = base["concurrency"] if base else None
        if r["concurrency"] == 1:
            r["ms_per_token"] = 1e3 / r["tokens_per_s"] if r["tokens_per_s"] else None
    return runs, unavailable, roof


def _write_partial(args: argparse.Namespace, runs: list[dict], roof: dict | None, unavailable: dict) -> None:
    """Every finished run on disk at once: a run cut off by a time limit keeps what it measured."""
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps({"partial": True, "runs": runs, "roofline": roof,
                                             "unavailable": unavailable}, indent=2))


def _sequential_base(seq: list[dict], n: int) -> dict | None:
    """The sequential run at concurrency ``n``, else the largest one below it."""
    below = [r for r in seq if r["concurrency"] <= n]
    return max(below, key=lambda r: r["concurrency"]) if below else None


def kv_roofline(roof: dict, prompt_lens: list[int], budgets: list[int], measured: float) -> dict[str, float]:
    """Tokens/s if every decode step streamed the weights plus the live rows' KV cache once.

    All rows start together and spend their budgets (random weights emit no end-of-turn):
    at step t the rows with budget > t are live and hold prompt + t tokens of cache.
    """
    weights, per_token, bandwidth = roof["param_bytes"], roof["kv_bytes_per_token"], roof["copy_bytes_per_s"]
    total = 0.0
    for t in range(max(budgets)):
        total += weights + per_token * sum(p + t for p, b in zip(prompt_lens, budgets) if b > t)
    bound = sum(budgets) / (total / bandwidth)
    return {"bound_tokens_per_s": bound, "fraction_of_bound": measured / bound}


async def close_engine(engine: HFEngine) -> None:
    await engine.aclose()  # also stops continuous-batching managers


# -- roofline ------------------------------------------------------------------------------
def roofline(model, tokenizer, device: str, decode_tokens: int, copy_bytes: int, reps: int) -> dict:
    """Batch-1 decode step time vs the time to stream every parameter once from memory."""
    from scale.engine.hf_layout import cache_layout

    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    kv_bytes_per_token = cache_layout(model).bytes_per_token
    bandwidth = copy_bandwidth(device, copy_bytes, reps)
    step = decode_step_time(model, tokenizer, device, decode_tokens, reps)
    bound = param_bytes / bandwidth["bytes_per_s"]
    return {
        "param_bytes": param_bytes, "param_count": sum(p.numel() for p in model.parameters()),
        "kv_bytes_per_token": kv_bytes_per_token,
        **{f"copy_{k}": v for k, v in bandwidth.items()}, **step,
        "bound_step_s": bound, "step_over_bound": step["decode_step_s"] / bound,
        "batch1_tokens_per_s": 1.0 / step["decode_step_s"], "bound_tokens_per_s": 1.0 / bound,
    }


def copy_bandwidth(device: str, nbytes: int, reps: int) -> dict[str, float]:
    """Device-to-device copy of ``nbytes``: bandwidth = 2 * bytes / best time (read + write)."""
    src = torch.empty(nbytes, dtype=torch.uint8, device=device)
    src.fill_(1)  # touch the pages (an untouched CPU buffer reads as the shared zero page)
    dst = torch.empty_like(src)
    dst.copy_(src)
    times = []
    for _ in range(max(1, reps)):
        _sync_device(device)
        start = time.perf_counter()
        dst.copy_(src)
        _sync_device(device)
        times.append(time.perf_counter() - start)
    del src, dst
    _empty_cache(device)
    best = min(times)
    return {"bytes": float(nbytes), "best_s": best, "bytes_per_s": 2 * nbytes / best}


def decode_step_time(model, tokenizer, device: str, n_tokens: int, reps: int) -> dict[str, float]:
    """Per-token time of one greedy request: (t(n tokens) - t(1 token)) / (n - 1), median of reps."""
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Count from one to one thousand, one number per line."}],
        add_generation_prompt=True, tokenize=False)
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"].to(model.device)
    n_tokens = max(2, n_tokens)

    def timed(n: int) -> float:
        _sync_device(device)
        start = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n,
                                 min_new_tokens=n, do_sample=False, temperature=None, top_p=None,
                                 top_k=None, pad_token_id=tokenizer.pad_token_id)
        _sync_device(device)
        if out.shape[1] - ids.shape[1] != n:
            raise RuntimeError(f"decode stopped after {out.shape[1] - ids.shape[1]} of {n} tokens")
        return time.perf_counter() - start

    timed(8)  # warm-up
    firsts = [timed(1) for _ in range(max(1, reps))]
    fulls = [timed(n_tokens) for _ in range(max(1, reps))]
    first, full = statistics.median(firsts), statistics.median(fulls)
    return {"decode_tokens": float(n_tokens), "prompt_tokens": float(ids.shape[1]),
            "first_token_s": first, "full_decode_s": full,
            "decode_step_s": (full - first) / (n_tokens - 1)}


# -- helpers -------------------------------------------------------------------------------
def _sync(engine: HFEngine) -> None:
    _sync_device(str(engine.model.device))


def _sync_device(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _empty_cache(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def _count(items) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


def _one_line(err: BaseException) -> str:
    if isinstance(err, TimeoutError):
        return "timed out (--mode-timeout-s)"
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:200]}" if text else type(err).__name__


def bench_environment(args: argparse.Namespace) -> dict[str, Any]:
    return {**environment(), **machine_state(), "device": args.device}


def print_report(result: dict[str, Any]) -> None:
    print(f"\nmodel {result['model']}  dtype {result['dtype']}  device {result['env']['device']}  "
          f"budgets {result['budgets']}  {'sampled' if result['sampled'] else 'greedy'}")
    header = (f"{'mode':<11}{'conc':>5}{'wall s':>9}{'tokens':>8}{'tok/s':>9}{'req/s':>8}{'calls':>6}{'x seq':>7}"
              f"{'roof tok/s':>11}{'of roof':>8}")
    print(header)
    print("-" * len(header))
    for r in result["runs"]:
        ratio = f"{r['ratio_vs_sequential']:.2f}" if r.get("ratio_vs_sequential") else "-"
        roof = (f"{r['bound_tokens_per_s']:>11.0f}{r['fraction_of_bound']:>8.1%}" if "bound_tokens_per_s" in r
                else f"{'-':>11}{'-':>8}")
        print(f"{r['mode']:<11}{r['concurrency']:>5}{r['wall_s']:>9.2f}{r['generated_tokens']:>8}"
              f"{r['tokens_per_s']:>9.1f}{r['requests_per_s']:>8.2f}{r['generate_calls']:>6}{ratio:>7}{roof}")
    for r in result["runs"]:
        if r.get("ms_per_token"):
            print(f"batch-1 {r['mode']}: {r['ms_per_token']:.2f} ms per generated token (prefill included)")
    for mode, why in result["unavailable"].items():
        print(f"{mode}: unavailable on this device: {why}")
    for n, ratios in result["ratios"].items():
        print(f"c={n}: " + "  ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))
    target = result["target"]
    if target["ratio"] is not None:
        print(f"CPU target {DEFAULT}/sequential >= {TARGET_RATIO:.0f}x at {TARGET_CONCURRENCY} concurrent: "
              f"{target['ratio']:.2f}x -> {'MET' if target['met'] else 'NOT MET'}")
    roof = result.get("roofline")
    if roof:
        print(f"\nroofline: {roof['param_bytes'] / GiB:.3f} GiB of parameters, copy bandwidth "
              f"{roof['copy_bytes_per_s'] / GiB:.1f} GiB/s -> bound {roof['bound_step_s'] * 1e3:.3f} ms/token; "
              f"measured batch-1 decode (plain generate) {roof['decode_step_s'] * 1e3:.3f} ms/token "
              f"= {roof['step_over_bound']:.1f}x the bound; KV cache {roof['kv_bytes_per_token'] / 1024:.1f} KiB/token")


def main(args: argparse.Namespace) -> dict[str, Any]:
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        model = args.model
        if args.arch:
            print(f"building random-init {args.arch} on {args.device} ...", flush=True)
            model = str(build_random_model(args.arch, args.dtype, args.device, Path(tmp) / args.arch,
                                           args.seed))
        print(f"throughput: modes {','.join(args.modes)}, concurrency {args.concurrency}", flush=True)
        runs, unavailable, roof = asyncio.run(throughput(args, model))
    ratios: dict[str, dict[str, float]] = {}
    for r in runs:
        if r["mode"] != "sequential" and r.get("ratio_vs_sequential"):
            ratios.setdefault(str(r["concurrency"]), {})[f"{r['mode']}/sequential"] = r["ratio_vs_sequential"]
    target_ratio = ratios.get(str(TARGET_CONCURRENCY), {}).get(f"{DEFAULT}/sequential")
    result = {
        "model": f"random-init {args.arch}" if args.arch else args.model, "dtype": args.dtype,
        "budgets": args.max_new_tokens, "sampled": args.sampled, "modes": args.modes,
        "concurrency": args.concurrency, "env": bench_environment(args), "runs": runs,
        "unavailable": unavailable, "ratios": ratios,
        "target": {"concurrency": TARGET_CONCURRENCY, "min_ratio": TARGET_RATIO, "ratio": target_ratio,
                   "met": target_ratio is not None and target_ratio >= TARGET_RATIO},
        "roofline": roof,
    }
    print_report(result)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json_out}")
    return result


if __name__ == "__main__":
    main(parse_args())
