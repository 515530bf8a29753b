"""engine.scheduler=continuous: one persistent transformers manager, fed as requests arrive (tier 2).

    pytest tests/engine/test_hf_continuous.py

The behaviour shared with the other schedulers (greedy and seeded sampling equal alone
and batched, stop strings, budget forcing, context caps) runs in test_hf_engine.py and
test_hf_schedulers.py; this file covers what is particular to the manager.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
import torch

from scale.engine.hf_engine import HFEngine
from scale.errors import EngineError
from tests.helpers.engine_requests import long_then_late
from tests.helpers.engine_requests import user_request as _req

pytestmark = pytest.mark.tiny


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    engine = HFEngine("tiny-qwen3", scheduler="continuous", cb_cache_tokens=8192)
    yield engine
    asyncio.run(engine.aclose())


def test_one_manager_serves_every_sampling_setting(engine):
    reqs = [_req("greedy", 4), _req("hot", 5, temperature=1.2, seed=1), _req("nucleus", 6, temperature=0.7, top_p=0.8),
            _req("top-k", 7, temperature=0.5, top_k=5, seed=2)]

    async def run():
        out = await asyncio.gather(*(engine.generate(r) for r in reqs))
        first = engine.continuous.manager
        out += await asyncio.gather(*(engine.generate(r) for r in reqs))
        return out, first

    out, first = asyncio.run(run())
    assert [c.response_tokens for c in out] == [4, 5, 6, 7] * 2
    assert engine.continuous.manager is first
    assert sum(t.name == "hf-continuous-results" for t in threading.enumerate()) == 1


def test_requests_join_while_a_long_one_runs(engine):
    long = _req("Tell a long story about numbers.", 300)
    late = [_req("Hi.", 4), _req("Short one, sampled.", 6, temperature=0.9, seed=3)]

    async def decoding(first):
        await asyncio.sleep(0.3)  # the long request is decoding
        assert not first.done()

    got_long, got_late, order = asyncio.run(long_then_late(engine, long, late, decoding))
    assert order[-1] == "long", f"late requests waited for the long one: {order}"
    assert got_long.response_tokens == 300 and [c.response_tokens for c in got_late] == [4, 6]


def test_cancelled_caller_cancels_its_request(engine):
    async def run():
        task = asyncio.create_task(engine.generate(_req("Cancel me.", 2000)))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await engine.generate(_req("Still serving.", 5))

    before = engine.continuous.cancelled_total
    after = asyncio.run(run())
    assert engine.continuous.cancelled_total == before + 1 and after.response_tokens == 5
    assert not engine.continuous._requests  # nothing left waiting for a result


def test_closing_fails_requests_still_decoding(tiny_model_dir):
    """aclose stops the manager at once: a caller still waiting gets an error, never a hang."""
    engine = HFEngine("tiny-qwen3", scheduler="continuous", cb_cache_tokens=8192)

    async def run():
        task = asyncio.create_task(engine.generate(_req("A very long answer, please.", 3000)))
        await asyncio.sleep(0.3)
        await engine.aclose()
        return await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), timeout=30)

    (result,) = asyncio.run(run())
    assert isinstance(result, EngineError) and "stopped" in str(result)


def test_a_failing_reader_fails_every_request_and_a_closed_engine_refuses_new_ones(tiny_model_dir, monkeypatch):
    """An exception in the reader thread (injected) fails the waiting caller and later ones, never a hang."""
    engine = HFEngine("tiny-qwen3", scheduler="continuous", cb_cache_tokens=8192)
    sched = engine.continuous
    readers = []

    async def run():
        first = await engine.generate(_req("Warm up.", 3))
        readers.append(sched._reader)
        real = sched.manager.get_result

        def get_result(timeout=None):
            if sched._requests:  # a request is waiting: the reader fails now
                raise RuntimeError("injected fault")
            return real(timeout=timeout)

        monkeypatch.setattr(sched.manager, "get_result", get_result)
        async def outcome(text, max_new):  # the error raised, or a timeout where a caller would hang
            (got,) = await asyncio.gather(asyncio.wait_for(engine.generate(_req(text, max_new)), timeout=30),
                                          return_exceptions=True)
            return got

        waiting = await outcome("A long answer, please.", 3000)
        later = await outcome("After.", 3)
        await engine.aclose()
        return first, waiting, later, await outcome("Closed.", 3)

    first, waiting, later, closed = asyncio.run(run())
    assert first.response_tokens == 3
    assert isinstance(waiting, EngineError), waiting
    assert str(waiting) == "continuous batching result reader failed: RuntimeError: injected fault"
    assert isinstance(later, EngineError) and str(later) == (
        "continuous batching is down: result reader failed: RuntimeError: injected fault")
    assert isinstance(closed, EngineError) and str(closed) == (
        "continuous batching: the engine is closed; no new requests")
    assert sched.manager is None and not sched._requests  # closing did not start a new manager
    assert not readers[0].is_alive() and sched._reader is None


@pytest.mark.gpu
def test_auto_picks_continuous_batching_on_cuda(tiny_model_dir):
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    engine = HFEngine("tiny-qwen3", scheduler="auto", dtype="float32")
    reqs = [_req(f"GPU request {i}", 5 + i, **({"temperature": 0.8, "seed": i} if i % 2 else {})) for i in range(6)]

    async def run():
        try:
            return await asyncio.gather(*(engine.generate(r) for r in reqs))
        finally:
            await engine.aclose()

    assert engine.scheduler == "continuous"
    assert [c.response_tokens for c in asyncio.run(run())] == [5 + i for i in range(6)]
