"""Batch invariance on this CPU: do a row's logits change with the rows batched beside it, and what
would per-row forwards (the simple way to make them not change) cost?

    python benchmarks/bench_batch_invariance.py
    python benchmarks/bench_batch_invariance.py --model smollm2-135m-instruct --rows 8 --steps 32

One decode step (one new token per row over a cached prompt) is timed two ways over the same
``--rows`` rows: batched (one forward of all rows, as the engine runs it) and per row (one
forward per row, so each row's matrix products see one row whatever the batch: the same bits as
the row alone). The two ways alternate ``--reps`` times; the fastest of each is kept (a shared
machine). First, each row's logits batched are compared with the row's alone, for a prefill
(``--prompt-tokens`` per row) and for a one-token step (the decode shape): how many rows differ
in any bit, and the largest difference. Figures: benchmarks/RESULTS.md ("Batch invariance on CPU").
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from scale.models import load_model, load_tokenizer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="tiny-qwen3", help="model name or folder (float32, CPU)")
    p.add_argument("--rows", type=int, default=8, help="rows in the batch")
    p.add_argument("--prompt-tokens", type=int, default=64, help="tokens per row's prompt (same length: no padding)")
    p.add_argument("--steps", type=int, default=16, help="decode steps per timing")
    p.add_argument("--reps", type=int, default=3, help="timings per way, alternating (the fastest is kept)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    return p.parse_args(argv)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@torch.no_grad()
def main(args: argparse.Namespace) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    model, tok = load_model(args.model, dtype="float32"), load_tokenizer(args.model)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(100, min(len(tok), 30000), (args.rows, args.prompt_tokens), generator=g)

    def compare(x: torch.Tensor) -> tuple[int, float]:
        batched = model(input_ids=x).logits[:, -1]
        alone = torch.cat([model(input_ids=x[i : i + 1]).logits[:, -1] for i in range(args.rows)])
        return int((batched != alone).any(dim=-1).sum()), float((batched - alone).abs().max())

    def decode(way: str) -> float:
        if way == "batched":
            out = model(input_ids=ids, use_cache=True)
            caches, nxt = [out.past_key_values], [out.logits[:, -1].argmax(-1, keepdim=True)]
        else:
            outs = [model(input_ids=ids[i : i + 1], use_cache=True) for i in range(args.rows)]
            caches, nxt = [o.past_key_values for o in outs], [o.logits[:, -1].argmax(-1, keepdim=True) for o in outs]
        start = time.perf_counter()
        for _ in range(args.steps):
            for j, cache in enumerate(caches):
                out = model(input_ids=nxt[j], past_key_values=cache, use_cache=True)
                nxt[j] = out.logits[:, -1].argmax(-1, keepdim=True)
        return (time.perf_counter() - start) / args.steps

    prefill, step = compare(ids), compare(ids[:, -1:])
    decode("batched")  # warm-up
    times: dict[str, list[float]] = {"batched": [], "per_row": []}
    for _ in range(args.reps):
        for way in times:
            times[way].append(decode(way))
    t_batched, t_rows = min(times["batched"]), min(times["per_row"])
    result = {"cpu": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__, "model": args.model,
              "rows": args.rows, "prompt_tokens": args.prompt_tokens, "steps": args.steps, "reps": args.reps,
              "prefill_rows_differing": prefill[0], "prefill_max_abs_diff": prefill[1],
              "one_token_rows_differing": step[0], "one_token_max_abs_diff": step[1],
              "step_ms_batched": round(1000 * t_batched, 2), "step_ms_per_row": round(1000 * t_rows, 2),
              "per_row_cost": round(t_rows / t_batched, 2)}
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main(parse_args())
