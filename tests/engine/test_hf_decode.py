"""Iteration-level scheduler (engine.scheduler=iteration) on the tiny random Qwen3 (tier 2).

    pytest tests/engine/test_hf_decode.py

Rows join a running batch and leave it after their last token; every row's tokens equal
the same request decoded alone and transformers' own ``generate``. Those comparisons set
batches of different make-ups side by side, so their engines run in float64
(tests/helpers/exact.py): rounding cannot flip a token there, and equal tokens prove the
scheduler's logic (joins, evictions, pre-emption restarts, admission) changes none.
"""

from __future__ import annotations

import asyncio

import pytest
import torch

from scale.engine.hf_batching import Row, generate_rows
from scale.engine.hf_decode import DecodeBatch, _GrowLayer
from scale.engine.hf_engine import HFEngine
from scale.engine.types import GenerationRequest, SamplingParams
from scale.errors import ConfigError, EngineError
from tests.helpers.engine_requests import long_then_late
from tests.helpers.engine_requests import user_request as _req
from tests.helpers.exact import EXACT_DTYPE

pytestmark = pytest.mark.tiny


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    return HFEngine("tiny-qwen3", dtype=EXACT_DTYPE, max_batch_size=8, scheduler="iteration")


def _alone(engine, req):
    return asyncio.run(engine.generate(req))


def _same(a, b) -> bool:
    return (a.text, a.response_tokens, a.finish_reason) == (b.text, b.response_tokens, b.finish_reason)


def test_rows_equal_transformers_generate(engine):
    """DecodeBatch (rows with different prompt lengths and budgets) == one padded generate."""
    tok = engine.tokenizer
    prompts = [tok(t, add_special_tokens=False)["input_ids"]
               for t in ["Short one.", "A much longer prompt " * 12, "Medium length prompt here, please."]]
    rows = [Row(p, n) for p, n in zip(prompts, [7, 12, 3])]
    reference = generate_rows(engine.model, tok, rows)
    batch = DecodeBatch(engine.model, tok)
    results = dict(batch.admit(rows, [0, 1, 2]))
    while len(batch):
        results.update(batch.step())
    for i, ref in enumerate(reference):
        assert results[i].token_ids == ref.token_ids, i
        assert results[i].finish_reason == ref.finish_reason


def test_rows_leave_after_their_last_token(engine):
    # Random weights practically never emit eos, so each row spends its budget exactly.
    reqs = [_req(f"Question {i}", n) for i, n in enumerate([2, 5, 9])]

    async def run():
        engine.batch_sizes.clear()
        out = await asyncio.gather(*(engine.generate(r) for r in reqs))
        return out, list(engine.batch_sizes)

    out, sizes = asyncio.run(run())
    assert [c.response_tokens for c in out] == [2, 5, 9]
    # The first token comes from the prefill; each later token is one step.
    assert sizes == [3, 2, 2, 2, 1, 1, 1, 1]


def test_late_requests_join_the_running_batch(engine):
    long = _req("Tell a long story about numbers.", 40)
    late = [_req("Hi.", 6), _req("Explain, step by step, " + "why addition commutes; " * 20, 9, temperature=0.9,
                                 top_k=30, seed=3)]

    async def decoding(first):
        while len(engine.batch_sizes) < 5:  # the long request is decoding
            await asyncio.sleep(0.005)

    async def run():
        engine.batch_sizes.clear()
        got = await long_then_late(engine, long, late, decoding)
        return *got, list(engine.batch_sizes)

    got_long, got_late, order, sizes = asyncio.run(run())
    assert order[-1] == "long", f"late requests waited for the long one: {order}"
    assert max(sizes) == 3 and sizes[0] == 1, sizes
    # Joining (a longer and a shorter prompt than the running cache) changes no token.
    assert _same(got_long, _alone(engine, long))
    for c, r in zip(got_late, late):
        assert _same(c, _alone(engine, r))


def test_cancelled_caller_leaves_the_batch(engine):
    keep, drop = _req("Keep me.", 30), _req("Drop me.", 30)

    async def run():
        engine.batch_sizes.clear()
        a = asyncio.create_task(engine.generate(keep))
        b = asyncio.create_task(engine.generate(drop))
        while len(engine.batch_sizes) < 3:
            await asyncio.sleep(0.005)
        b.cancel()
        return await a, list(engine.batch_sizes)

    got, sizes = asyncio.run(run())
    assert sizes[0] == 2 and sizes[-1] == 1
    assert _same(got, _alone(engine, keep))


def test_finished_rows_resolve_when_freeing_their_cache_fails(tiny_model_dir, monkeypatch):
    """An out-of-memory error while a finished row's cache row is freed must not lose that row."""
    engine = HFEngine("tiny-qwen3", dtype=EXACT_DTYPE, max_batch_size=8, scheduler="iteration")
    # The short row finishes in a later round than the one that admitted it (no restart can hide it).
    reqs = [_req("Short.", 4), _req("A bit longer.", 6), _req("The longest of the three.", 9)]
    alone = [_alone(engine, r) for r in reqs]
    real_evict, real_assign = DecodeBatch._evict, _GrowLayer.assign
    state = {"armed": False, "fired": 0}

    def evict(self, gone):
        state["armed"] = state["fired"] == 0  # the first eviction's cache copy fails
        try:
            return real_evict(self, gone)
        finally:
            state["armed"] = False

    def assign(self, keys, values):
        if state["armed"]:
            state["armed"] = False
            state["fired"] += 1
            raise torch.OutOfMemoryError("CUDA out of memory (injected into the eviction copy)")
        return real_assign(self, keys, values)

    monkeypatch.setattr(DecodeBatch, "_evict", evict)
    monkeypatch.setattr(_GrowLayer, "assign", assign)

    async def run():
        return await asyncio.wait_for(asyncio.gather(*(engine.generate(r) for r in reqs)), timeout=60)

    out = asyncio.run(run())
    assert state["fired"] == 1
    # The row that had finished came back; the others were restarted and redrew the same tokens.
    assert all(_same(a, b) for a, b in zip(out, alone))


def _flaky_forward(engine, monkeypatch, fail_at: set[int]):
    """Make the model's forward raise CUDA out-of-memory at the given decode calls (1-based)."""
    real = engine.model.forward
    seen = {"decode": 0, "prefill_rows": [], "budgets": []}

    def forward(*args, **kwargs):
        ids = kwargs["input_ids"]
        if ids.shape[1] == 1:
            seen["decode"] += 1
            seen["budgets"].append(engine.kv_budget.budget)
            if seen["decode"] in fail_at:
                raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        else:
            seen["prefill_rows"].append(ids.shape[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(engine.model, "forward", forward)
    return seen


def test_out_of_memory_preempts_the_newest_row_and_capacity_returns(tiny_model_dir, monkeypatch):
    engine = HFEngine("tiny-qwen3", dtype=EXACT_DTYPE, max_batch_size=8, scheduler="iteration", prefix_cache_tokens=0,
                      oom_quiet_steps=4)
    budget = engine.kv_budget
    budget.cap = budget.budget = budget.projected(8, 64)  # room for 8 rows of 64 tokens
    reqs = [_req(f"Memory test number {i}.", 12 + i, temperature=0.8, seed=i) for i in range(4)]
    alone = [_alone(engine, r) for r in reqs]
    seen = _flaky_forward(engine, monkeypatch, fail_at={3, 4})

    async def run():
        engine.batch_sizes.clear()
        out = await asyncio.wait_for(asyncio.gather(*(engine.generate(r) for r in reqs)), timeout=120)
        return out, list(engine.batch_sizes)

    out, sizes = asyncio.run(run())
    # Each out-of-memory step pre-empts only the newest row: 4 rows, then 3, then 2 keep decoding.
    assert sizes[:5] == [4, 4, 4, 3, 2], sizes
    assert budget.oom_count == 2 and min(seen["budgets"]) < budget.cap
    # The two pre-empted rows are prefilled again, nobody else: no row is lost or restarted twice.
    assert seen["prefill_rows"][0] == 4 and sum(seen["prefill_rows"][1:]) == 2, seen["prefill_rows"]
    # Pre-empted rows restart and, seeded, redraw the same tokens.
    assert all(_same(a, b) for a, b in zip(out, alone))
    # After quiet steps the budget is back to its cap, and the batch fills again.
    more = [_req(f"After the storm {i}.", 12) for i in range(6)]

    async def again():
        engine.batch_sizes.clear()
        await asyncio.gather(*(engine.generate(r) for r in more))
        return list(engine.batch_sizes)

    assert budget.budget == budget.cap and not budget.shrunk
    assert max(asyncio.run(again())) == 6


def test_rows_are_admitted_by_kv_memory(tiny_model_dir):
    engine = HFEngine("tiny-qwen3", dtype=EXACT_DTYPE, max_batch_size=8, scheduler="iteration", prefix_cache_tokens=0)
    budget = engine.kv_budget
    budget.cap = budget.budget = budget.projected(2, 48)  # room for two rows of up to 48 tokens
    reqs = [_req(f"Admission by memory, request {i}.", 6) for i in range(4)]
    alone = [_alone(engine, r) for r in reqs]

    async def run():
        engine.batch_sizes.clear()
        out = await asyncio.gather(*(engine.generate(r) for r in reqs))
        return out, list(engine.batch_sizes)

    out, sizes = asyncio.run(run())
    assert max(sizes) == 2, sizes
    assert all(_same(a, b) for a, b in zip(out, alone))


def test_one_row_too_big_for_the_device_fails_with_its_size(tiny_model_dir, monkeypatch):
    engine = HFEngine("tiny-qwen3", scheduler="iteration", prefix_cache_tokens=0)
    _flaky_forward(engine, monkeypatch, fail_at=set(range(1, 1000)))
    with pytest.raises(EngineError, match=r"out of memory with a single row \(\d+ prompt tokens, budget 8\)"):
        asyncio.run(asyncio.wait_for(engine.generate(_req("Too big.", 8)), timeout=60))


def test_failed_step_fails_its_callers_and_the_engine_serves_on(engine, monkeypatch):
    real_step, calls = DecodeBatch.step, {"n": 0}

    def broken_once(self):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("kernel exploded")
        return real_step(self)

    monkeypatch.setattr(DecodeBatch, "step", broken_once)

    async def run():
        failed = await asyncio.gather(engine.generate(_req("a", 5)), engine.generate(_req("b", 5)),
                                      return_exceptions=True)
        after = await engine.generate(_req("c", 4))
        return failed, after

    failed, after = asyncio.run(run())
    assert all(isinstance(f, RuntimeError) and "kernel exploded" in str(f) for f in failed), failed
    assert after.response_tokens == 4


def test_budget_forcing_under_iteration(engine):
    from scale.engine.types import BudgetForcing

    req = GenerationRequest(({"role": "user", "content": "Think: 3 * 4?"},), SamplingParams(max_new_tokens=99),
                            {"enable_thinking": True}, budget=BudgetForcing(thinking_tokens=6, answer_tokens=4))
    c = _alone(engine, req)
    close = engine.tokenizer("\n</think>\n\n", add_special_tokens=False)["input_ids"]
    assert c.forced and c.response_tokens == 6 + len(close) + 4


def test_unknown_scheduler_is_named(tiny_model_dir):
    with pytest.raises(ConfigError, match="scheduler.*'paged'"):
        HFEngine("tiny-qwen3", scheduler="paged")
