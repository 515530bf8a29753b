"""The CUDA paths of the hf engine, driven on CPU by injected faults (tier 2).

    pytest tests/engine/test_hf_faults.py

A dead continuous-batching manager (its loop raised: a CUDA error, say) is rebuilt once;
a request longer than the paged cache fails alone; the manager gets the settings chosen
here (no flash attention unasked, max_batch_tokens), leaves torch's global RNG as it was
and does not hang an exit that skipped ``aclose()``. Out-of-memory recovery (static
halving, iteration pre-emption) runs once the failed step's tensors are released, and the
iteration scheduler's KV budget is measured at the first admission.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import weakref

import pytest
import torch

from scale.engine import hf_iteration
from scale.engine.hf_engine import HFEngine
from scale.errors import EngineError
from scale.paths import REPO_ROOT
from tests.helpers.engine_requests import user_request as _req

pytestmark = pytest.mark.tiny


async def _outcome(engine, text: str, max_new: int):
    """The completion, or the error raised; a caller that would hang times out instead."""
    (got,) = await asyncio.gather(asyncio.wait_for(engine.generate(_req(text, max_new)), timeout=60),
                                  return_exceptions=True)
    return got


def test_a_dead_manager_is_rebuilt_once_then_requests_fail_never_hang(tiny_model_dir, monkeypatch):
    engine = HFEngine("tiny-qwen3", scheduler="continuous", cb_cache_tokens=4096)
    sched = engine.continuous
    real = engine.model.forward
    faults = {"left": 0}

    def forward(*args, **kwargs):  # runs in the manager's thread: an exception there ends its loop
        if faults["left"] > 0:
            faults["left"] -= 1
            raise RuntimeError("injected CUDA error")
        return real(*args, **kwargs)

    monkeypatch.setattr(engine.model, "forward", forward)

    async def run():
        out = {"warm": await _outcome(engine, "Warm up.", 3)}
        first = sched.manager
        faults["left"] = 1
        out["killed"] = await _outcome(engine, "This one meets the fault.", 5)
        out["after"] = await _outcome(engine, "A new manager serves this.", 4)
        second = sched.manager
        faults["left"] = 1
        out["killed_again"] = await _outcome(engine, "The second fault.", 5)
        out["down"] = await _outcome(engine, "No third manager.", 4)
        await engine.aclose()
        return out, first, second

    out, first, second = asyncio.run(run())
    assert out["warm"].response_tokens == 3
    assert isinstance(out["killed"], EngineError) and "injected CUDA error" in str(out["killed"])
    assert out["after"].response_tokens == 4, out["after"]
    assert second is not None and second is not first and sched.rebuilds == 1
    assert isinstance(out["killed_again"], EngineError) and "injected CUDA error" in str(out["killed_again"])
    assert isinstance(out["down"], EngineError) and str(out["down"]).startswith("continuous batching is down")


def test_a_request_longer_than_the_paged_cache_fails_alone(tiny_model_dir):
    engine = HFEngine("tiny-qwen3", scheduler="continuous", cb_cache_tokens=512)

    async def run():
        too_long, beside = await asyncio.gather(_outcome(engine, "Far too long for the cache.", 2000),
                                                _outcome(engine, "Fits beside it.", 6))
        after = await _outcome(engine, "Still served.", 5)
        await engine.aclose()
        return too_long, beside, after

    too_long, beside, after = asyncio.run(run())
    assert isinstance(too_long, EngineError), too_long
    assert "does not fit the paged KV cache (512 tokens)" in str(too_long) and "engine.cb_cache_tokens" in str(too_long)
    assert beside.response_tokens == 6 and after.response_tokens == 5
    assert engine.continuous.rebuilds == 0  # the manager never died


def test_flash_attention_only_when_engine_attn_implementation_asks(tiny_model_dir, monkeypatch):
    """With flash attention installed (injected) and a bf16 model, the manager keeps the loaded attention."""
    from transformers.generation.continuous_batching import continuous_api

    for name in ("is_flash_attn_2_available", "is_flash_attn_3_available"):
        if hasattr(continuous_api, name):
            monkeypatch.setattr(continuous_api, name, lambda *a, **k: True)
    engine = HFEngine("tiny-qwen3", scheduler="continuous", dtype="bfloat16", cb_cache_tokens=2048)
    before = engine.model.config._attn_implementation

    async def run():
        got = await _outcome(engine, "Which attention?", 4)
        during = engine.model.config._attn_implementation
        await engine.aclose()
        return got, during

    got, during = asyncio.run(run())
    assert "flash" not in str(during) and "flash" not in str(before), (before, during)
    assert not isinstance(got, BaseException) and got.response_tokens == 4, got


def test_max_batch_tokens_is_the_configured_value(tiny_model_dir):
    engine = HFEngine("tiny-qwen3", scheduler="continuous", cb_cache_tokens=2048, cb_max_batch_tokens=96)

    async def run():
        got = await _outcome(engine, "How many tokens per step?", 4)
        cache = engine.continuous.manager.batch_processor.cache
        await engine.aclose()
        return got, cache.max_batch_tokens

    got, max_batch_tokens = asyncio.run(run())
    assert got.response_tokens == 4 and max_batch_tokens == 96


def test_the_manager_leaves_the_global_rng_as_it_was(tiny_model_dir):
    engine = HFEngine("tiny-qwen3", scheduler="continuous", cb_cache_tokens=2048)
    torch.manual_seed(1234)
    state = torch.get_rng_state()

    async def run():
        got = await _outcome(engine, "Seeds?", 3)
        await engine.aclose()
        return got

    assert asyncio.run(run()).response_tokens == 3
    assert torch.equal(torch.get_rng_state(), state)


def test_an_exit_without_aclose_does_not_hang(tiny_model_dir, tmp_path):
    script = tmp_path / "no_aclose.py"
    script.write_text(textwrap.dedent("""
        import asyncio
        from scale.engine.hf_engine import HFEngine
        from tests.helpers.engine_requests import user_request

        engine = HFEngine("tiny-qwen3", scheduler="continuous", cb_cache_tokens=2048)
        print(asyncio.run(engine.generate(user_request("Leave without closing.", 3))).response_tokens, flush=True)
    """))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    try:
        proc = subprocess.run([sys.executable, str(script)], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                              timeout=180, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("the interpreter did not exit: the manager's thread kept it alive")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "3"


# -- out of memory: the retry runs once the failed step's tensors are released --------------
def test_static_halving_retries_after_the_failed_batch_is_released(tiny_model_dir, monkeypatch):
    from scale.engine import hf_engine

    engine = HFEngine("tiny-qwen3", scheduler="static", max_batch_size=4)
    real = hf_engine.generate_rows
    held: list[weakref.ref] = []
    alive_at_retry: list[bool] = []

    def generate_rows(model, tokenizer, rows):
        if len(rows) > 1 and not held:
            step = torch.ones(1 << 16)  # what the failed step allocated
            held.append(weakref.ref(step))
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        alive_at_retry.append(held[0]() is not None)
        return real(model, tokenizer, rows)

    monkeypatch.setattr(hf_engine, "generate_rows", generate_rows)
    reqs = [_req(f"Halve me {i}.", 4 + i) for i in range(4)]  # budgets of one group: one batch of 4

    async def run():
        out = await asyncio.gather(*(engine.generate(r) for r in reqs))
        await engine.aclose()
        return out

    out = asyncio.run(run())
    assert [c.response_tokens for c in out] == [4, 5, 6, 7]
    assert engine.batch_sizes[0] == 4 and len(alive_at_retry) >= 2
    assert not any(alive_at_retry), "the failed batch's tensors were still referenced when the halves ran"


def test_iteration_preemption_runs_after_the_failed_step_is_released(tiny_model_dir, monkeypatch):
    engine = HFEngine("tiny-qwen3", scheduler="iteration", max_batch_size=4, prefix_cache_tokens=0)
    batch = engine.decode_batch
    real_step = batch.step
    real_empty = hf_iteration.empty_cache
    held: list[weakref.ref] = []
    alive_at_recovery: list[bool] = []

    def step():
        if len(batch) > 1 and not held:
            logits = torch.ones(1 << 16)  # what the failed step allocated
            held.append(weakref.ref(logits))
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return real_step()

    def empty_cache(model):
        alive_at_recovery.append(held[0]() is not None)
        real_empty(model)

    monkeypatch.setattr(batch, "step", step)
    monkeypatch.setattr(hf_iteration, "empty_cache", empty_cache)
    reqs = [_req(f"Pre-empt me {i}.", 4 + i) for i in range(3)]

    async def run():
        out = await asyncio.gather(*(engine.generate(r) for r in reqs))
        await engine.aclose()
        return out

    out = asyncio.run(run())
    assert [c.response_tokens for c in out] == [4, 5, 6]
    assert alive_at_recovery == [False], alive_at_recovery
    assert engine.kv_budget.oom_count == 1


def test_the_kv_budget_is_measured_at_the_first_admission(tiny_model_dir, monkeypatch):
    """Two engines on one device: the first one's budget leaves out what the second took since."""
    page = os.sysconf("SC_PAGE_SIZE")
    free = {"bytes": 40 * 2**30}
    real_sysconf = os.sysconf

    def sysconf(name):  # the free memory the engines read (CPU: free RAM)
        if name == "SC_AVPHYS_PAGES":
            return free["bytes"] // page
        return real_sysconf(name)

    monkeypatch.setattr(os, "sysconf", sysconf)
    first = HFEngine("tiny-qwen3", scheduler="iteration", kv_memory_fraction=0.5)
    second = HFEngine("tiny-qwen3", scheduler="iteration", kv_memory_fraction=0.5)
    free["bytes"] = 8 * 2**30  # the second engine (and its cache) took memory after the first was built

    async def run():
        got = await first.generate(_req("Budget?", 3))
        await first.aclose()
        await second.aclose()
        return got

    assert asyncio.run(run()).response_tokens == 3
    assert first.kv_budget.cap == pytest.approx(0.5 * (8 * 2**30 // page) * page)
