"""OpenAIEngine against a real ``transformers serve`` (SmolLM2-135M-Instruct on CPU).

One server per module (``smol_server`` in conftest.py). No mocks: the retry tests use the
real server (killed and restarted), a port with nothing listening, and a tiny raw HTTP
server that answers 503 / broken JSON before a good body.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from scale.engine.openai_engine import OpenAIEngine
from scale.engine.types import BudgetForcing, Completion, GenerationRequest, SamplingParams
from scale.errors import ConfigError, EngineError
from tests.helpers.serve_process import free_port

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.timeout(240)]

QUESTION = [{"role": "user", "content": "What is 2+3? Answer briefly."}]


def _request(messages=QUESTION, max_new_tokens: int = 16, **kwargs) -> GenerationRequest:
    return GenerationRequest(messages=messages,
                             sampling=SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens),
                             **kwargs)


def _run(engine: OpenAIEngine, coro_fn):
    async def main():
        try:
            return await coro_fn()
        finally:
            await engine.aclose()

    return asyncio.run(main())


def _engine(server, **kwargs) -> OpenAIEngine:
    kwargs.setdefault("timeout_s", 120)
    return OpenAIEngine(server.base_url, server.model, **kwargs)


# -- a real server ----------------------------------------------------------------------

def test_greedy_answer_and_usage_match_tokenizer(smol_server):
    from transformers import AutoTokenizer

    engine = _engine(smol_server)
    out = _run(engine, lambda: engine.generate(_request()))
    assert isinstance(out, Completion)
    assert out.text.strip()
    assert out.reasoning == "" and out.reasoning_tokens == 0
    assert out.prompt_tokens > 0 and 0 < out.response_tokens <= 16
    assert out.finish_reason in ("stop", "length")
    assert out.meta["attempts"] == 1 and out.seconds > 0
    assert out.meta["model"] == smol_server.model

    tok = AutoTokenizer.from_pretrained(smol_server.model)
    enc = tok.apply_chat_template(QUESTION, add_generation_prompt=True, tokenize=True)
    ids = enc["input_ids"] if hasattr(enc, "keys") else enc
    # transformers serve counts exactly the templated prompt (default system turn included).
    assert out.prompt_tokens == len(ids)


def test_greedy_is_deterministic(smol_server):
    engine = _engine(smol_server)

    async def twice():
        a = await engine.generate(_request(max_new_tokens=16))
        b = await engine.generate(_request(max_new_tokens=16))
        return a, b

    a, b = _run(engine, twice)
    assert a.text == b.text
    assert a.response_tokens == b.response_tokens


def test_concurrency_is_bounded_by_semaphore(smol_server):
    engine = _engine(smol_server, max_concurrency=4)
    requests = [_request([{"role": "user", "content": f"Name a number bigger than {i}."}],
                         max_new_tokens=4) for i in range(8)]

    async def batch():
        return await asyncio.gather(*(engine.generate(r) for r in requests))

    results = _run(engine, batch)
    assert len(results) == 8
    assert all(isinstance(r, Completion) and r.response_tokens > 0 for r in results)
    # The server runs one generate at a time, so 8 requests pile up: the cap is reached, not passed.
    assert engine.max_in_flight_seen == 4
    assert engine.in_flight == 0
    assert engine.attempts_total == 8


def test_max_tokens_is_honoured(smol_server):
    engine = _engine(smol_server)
    req = _request([{"role": "user", "content": "Write a long story about a dragon."}], max_new_tokens=5)
    out = _run(engine, lambda: engine.generate(req))
    assert out.response_tokens <= 5
    assert out.finish_reason == "length"


def test_chat_template_kwargs_pass_through(smol_server):
    engine = _engine(smol_server)
    plain = _request(max_new_tokens=12)
    with_kwargs = _request(max_new_tokens=12, template_kwargs={"enable_thinking": False})
    assert engine.body(with_kwargs)["chat_template_kwargs"] == {"enable_thinking": False}
    assert "chat_template_kwargs" not in engine.body(plain)

    async def both():
        return await engine.generate(plain), await engine.generate(with_kwargs)

    a, b = _run(engine, both)
    # SmolLM2's template ignores enable_thinking: same prompt, same greedy answer.
    assert b.prompt_tokens == a.prompt_tokens
    assert b.text == a.text


def test_stop_string_is_cut_like_openai(smol_server):
    engine = _engine(smol_server)
    req = _request([{"role": "user", "content": "Count from 1 to 10, separated by commas."}],
                   max_new_tokens=32, stop=("5",))
    out = _run(engine, lambda: engine.generate(req))
    # transformers serve returns the text up to and including the stop string; the engine
    # drops it (OpenAI/vLLM semantics, same as the HF engine).
    assert "5" not in out.text
    assert out.finish_reason == "stop"


def test_client_error_fails_at_once(smol_server):
    # Unknown model name: the pinned server answers 400.
    engine = OpenAIEngine(smol_server.base_url, "no-such-model", max_retries=4, backoff_s=1.0)
    start = time.monotonic()
    with pytest.raises(EngineError) as info:
        _run(engine, lambda: engine.generate(_request(max_new_tokens=4)))
    msg = str(info.value)
    assert "HTTP 400" in msg and "not retried" in msg and "no-such-model" in msg
    assert "\n" not in msg
    assert engine.attempts_total == 1
    assert time.monotonic() - start < 10

    # top_k is not part of the OpenAI schema; transformers serve refuses it with 422.
    engine = _engine(smol_server, max_retries=4, backoff_s=1.0)
    req = GenerationRequest(messages=QUESTION, sampling=SamplingParams(temperature=0.7, top_k=5,
                                                                       max_new_tokens=4))
    with pytest.raises(EngineError, match=r"HTTP 422.*top_k"):
        _run(engine, lambda: engine.generate(req))
    assert engine.attempts_total == 1


def test_server_killed_mid_run_recovers(smol_server):
    """SIGKILL the server while requests are in flight, restart it; every request completes once."""
    # Retry window >= ~50 s (100 retries, 0.5-1 s apart): covers a restart on a loaded machine.
    engine = _engine(smol_server, max_concurrency=4, max_retries=100, backoff_s=0.25,
                     backoff_max_s=1.0, timeout_s=60)
    n = 5
    requests = [_request([{"role": "user", "content": f"Tell me a fact about the number {i}."}],
                         max_new_tokens=12) for i in range(n)]
    results: list[Completion] = []

    async def one(req):
        out = await engine.generate(req)
        results.append(out)
        return out

    async def scenario():
        tasks = [asyncio.create_task(one(r)) for r in requests]
        deadline = time.monotonic() + 30
        while engine.in_flight == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        assert engine.in_flight > 0
        old_pid = smol_server.pid
        smol_server.kill()
        unfinished_at_kill = sum(not t.done() for t in tasks)
        await asyncio.to_thread(smol_server.restart)
        assert smol_server.pid != old_pid and smol_server.running
        outs = await asyncio.gather(*tasks)
        return outs, unfinished_at_kill

    outs, unfinished_at_kill = _run(engine, scenario)
    assert unfinished_at_kill > 0
    assert len(outs) == n and len(results) == n
    assert all(isinstance(o, Completion) and o.text.strip() for o in outs)
    ids = [o.meta["id"] for o in outs]
    assert len(set(ids)) == n
    assert engine.attempts_total > n  # some attempts failed and were retried
    assert any(o.meta["attempts"] > 1 for o in outs)
    assert engine.in_flight == 0


# -- no server / a raw one --------------------------------------------------------------

def test_retries_exhausted_without_server():
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    engine = OpenAIEngine(url, "m", max_retries=2, backoff_s=0.05, backoff_max_s=0.1, timeout_s=5)
    start = time.monotonic()
    with pytest.raises(EngineError) as info:
        _run(engine, lambda: engine.generate(_request(max_new_tokens=4)))
    elapsed = time.monotonic() - start
    msg = str(info.value)
    assert f"{url}/chat/completions" in msg and "after 3 attempts" in msg
    assert "ConnectError" in msg
    assert "\n" not in msg
    assert engine.attempts_total == 3
    assert elapsed < 5


def test_retries_on_503_and_broken_json():
    """A raw HTTP server answers 503, then broken JSON, then an empty body, then a good one."""
    good = {"id": "x1", "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": "<think>2+3 is 5</think>The answer is 5."}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 12, "total_tokens": 22}}
    replies = [(503, b'{"error": "busy"}'), (200, b'{"choices": [tru'), (200, b""),
               (200, json.dumps(good).encode())]
    seen: list[dict] = []

    async def handle(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))
        seen.append(json.loads(await reader.readexactly(length)))
        status, body = replies[min(len(seen), len(replies)) - 1]
        writer.write(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n%s" % (status, len(body), body))
        await writer.drain()
        writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        engine = OpenAIEngine(f"http://127.0.0.1:{port}/v1", "m", max_retries=4, backoff_s=0.01,
                              backoff_max_s=0.02, extra_body={"repetition_penalty": 1.1})
        try:
            req = GenerationRequest(messages=QUESTION, stop=("\n\n",),
                                    sampling=SamplingParams(temperature=0.6, top_p=0.95, top_k=20,
                                                            seed=7, max_new_tokens=64),
                                    template_kwargs={"enable_thinking": True})
            return await engine.generate(req)
        finally:
            await engine.aclose()
            server.close()
            await server.wait_closed()

    out = asyncio.run(main())
    assert len(seen) == 4 and out.meta["attempts"] == 4
    assert seen[0] == {"model": "m", "messages": QUESTION, "temperature": 0.6, "top_p": 0.95,
                       "max_tokens": 64, "seed": 7, "stop": ["\n\n"], "top_k": 20,
                       "chat_template_kwargs": {"enable_thinking": True},
                       "repetition_penalty": 1.1}
    assert out.text == "The answer is 5." and out.reasoning == "2+3 is 5"
    assert out.response_tokens == 12 and out.prompt_tokens == 10
    assert out.reasoning_tokens == round(12 * 8 / (8 + 16))
    assert out.meta["reasoning_tokens_estimated"] is True


# -- parsing and settings (pure) --------------------------------------------------------

def _body(message: dict, usage: dict | None = None, finish: str = "stop") -> dict:
    return {"id": "r", "model": "m", "choices": [{"message": message, "finish_reason": finish}],
            "usage": usage or {"prompt_tokens": 3, "completion_tokens": 10}}


def test_parse_reasoning_shapes():
    engine = OpenAIEngine("http://127.0.0.1:1/v1", "m")
    req = _request()
    thinking = _request(template_kwargs={"enable_thinking": True})

    out = engine._parse(_body({"content": "42", "reasoning_content": " think "},
                              {"prompt_tokens": 3, "completion_tokens": 10,
                               "completion_tokens_details": {"reasoning_tokens": 7}}), req)
    assert (out.text, out.reasoning, out.reasoning_tokens) == ("42", "think", 7)
    assert "reasoning_tokens_estimated" not in out.meta

    out = engine._parse(_body({"content": "42", "reasoning": "abc"}), req)
    assert out.reasoning == "abc" and out.meta["reasoning_tokens_estimated"] is True
    assert out.reasoning_tokens == round(10 * 3 / 5)

    # Opening tag in the prompt: the prefix before </think> is reasoning.
    out = engine._parse(_body({"content": "step one\n</think>\n\nAnswer: 4"}, finish="length"), thinking)
    assert (out.reasoning, out.text, out.finish_reason) == ("step one", "Answer: 4", "length")

    out = engine._parse(_body({"content": "plain"},
                              {"prompt_tokens": 1, "completion_tokens": 2,
                               "completion_tokens_details": {"reasoning_tokens": 0}}), req)
    assert (out.text, out.reasoning, out.reasoning_tokens) == ("plain", "", 0)

    out = engine._parse(_body({"content": None}, finish="tool_calls"), req)
    assert out.text == "" and out.finish_reason == "stop"
    assert out.meta["finish_reason_raw"] == "tool_calls"


def test_settings_are_validated():
    for bad in ("127.0.0.1:8000/v1", "ftp://host/v1", "", "http://"):
        with pytest.raises(ConfigError, match="base_url"):
            OpenAIEngine(bad, "m")
    with pytest.raises(ConfigError, match="max_concurrency"):
        OpenAIEngine("http://127.0.0.1:8000/v1", "m", max_concurrency=0)
    engine = OpenAIEngine("https://example.invalid/v1/", "m")
    assert engine.url == "https://example.invalid/v1/chat/completions"
    budget = GenerationRequest(messages=QUESTION, budget=BudgetForcing(thinking_tokens=8))
    with pytest.raises(ConfigError, match="budget forcing"):
        asyncio.run(engine.generate(budget))
