"""transformers' continuous batching (paged KV cache, requests join and leave mid-batch).

Selected with ``engine.scheduler=continuous``. One persistent manager per sampling
setting; stop strings are applied after generation (the manager stops on eos/budget).
It pays on GPU with many concurrent requests; on CPU the padded path is usually faster.
"""

from __future__ import annotations

import threading

from transformers import GenerationConfig
from transformers.generation.configuration_utils import ContinuousBatchingConfig

from scale.engine.hf_batching import Row, RowResult, _cut, eos_ids
from scale.engine.types import SamplingParams
from scale.errors import EngineError

_lock = threading.Lock()


def _manager(engine, sampling: SamplingParams):
    managers = engine._cb_managers
    key = (sampling.greedy, sampling.temperature, sampling.top_p, sampling.top_k)
    with _lock:
        if key not in managers:
            cfg = GenerationConfig(
                do_sample=not sampling.greedy,
                temperature=sampling.temperature if not sampling.greedy else None,
                top_p=sampling.top_p if not sampling.greedy else None,
                top_k=(sampling.top_k or None) if not sampling.greedy else None,
                max_new_tokens=sampling.max_new_tokens,
                eos_token_id=eos_ids(engine.model, engine.tokenizer),
                pad_token_id=engine.tokenizer.pad_token_id,
            )
            # Bound the paged KV cache: by default transformers reserves most of the memory.
            cb_cfg = ContinuousBatchingConfig(max_memory_percent=engine.cb_max_memory_percent)
            manager = engine.model.init_continuous_batching(generation_config=cfg,
                                                            continuous_batching_config=cb_cfg)
            manager.start()
            managers[key] = manager
        return managers[key]


def run_continuous(engine, rows: list[Row], sampling: SamplingParams, timeout_s: float = 3600) -> list[RowResult]:
    manager = _manager(engine, sampling)
    ids = [manager.add_request(input_ids=r.prompt_ids, max_new_tokens=r.max_new_tokens) for r in rows]
    if any(i is None for i in ids):
        raise EngineError("continuous batching manager refused a request (is it stopped?)")
    wanted = {rid: k for k, rid in enumerate(ids)}
    out: list[RowResult | None] = [None] * len(rows)
    remaining = len(rows)
    eos = eos_ids(engine.model, engine.tokenizer)
    while remaining:
        result = manager.get_result(timeout=timeout_s)
        if result is None:
            raise EngineError("continuous batching manager stopped before finishing all requests")
        k = wanted.get(result.request_id)
        if k is None or not result.is_finished():
            continue
        if result.error:
            raise EngineError(f"continuous batching request failed: {result.error}")
        row = rows[k]
        tokens = list(result.generated_tokens)
        stopped_at = _first_stop(engine.tokenizer, tokens, row.stop)
        out[k] = _cut(tokens, row, stopped_at, eos, engine.tokenizer)
        remaining -= 1
    return [r for r in out if r is not None]


def _first_stop(tokenizer, tokens: list[int], stop: tuple[str, ...]) -> int | None:
    if not stop:
        return None
    for n in range(1, len(tokens) + 1):
        tail = tokenizer.decode(tokens[max(0, n - 16):n])
        if any(s in tail for s in stop):
            return n
    return None


def stop_managers(engine) -> None:
    """Stop the managers' background threads (they would keep the process alive)."""
    for manager in engine._cb_managers.values():
        manager.stop(block=True, timeout=10)
    engine._cb_managers.clear()
