"""OpenAIEngine: parsing, retries and request shapes (fast), and a real ``transformers serve``.

    pytest tests/engine/test_openai_engine.py -m "not slow"    # no model, no server process

Tests marked ``slow``/``server`` run against SmolLM2-135M-Instruct behind ``transformers
serve`` (one server per module: ``smol_server`` in conftest.py; the retry test kills and
restarts it). The others need no model: a port with nothing listening, and a tiny raw HTTP
server that answers what vLLM would (503, broken JSON, a context-length 400, /tokenize).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from scale.engine.hf_sampling import derive_seed
from scale.engine.openai_engine import OpenAIEngine
from scale.engine.types import BudgetForcing, Completion, GenerationRequest, SamplingParams
from scale.errors import ConfigError, EngineError
from tests.helpers.raw_http import RawServer
from tests.helpers.serve_process import free_port


def server_test(fn):
    """Marks a test that talks to the real ``transformers serve`` (tier 3)."""
    return pytest.mark.slow(pytest.mark.server(pytest.mark.timeout(240)(fn)))


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

@server_test
def test_greedy_answer_and_usage_match_tokenizer(smol_server):
    from transformers import AutoTokenizer

    engine = _engine(smol_server)
    out = _run(engine, lambda: engine.generate(_request()))
    assert not out.forced and out.meta["max_new_tokens"] == 16 and "usage_missing" not in out.meta
    assert out.text.strip()
    assert out.reasoning == "" and out.reasoning_tokens == 0
    assert out.prompt_tokens > 0 and 0 < out.response_tokens <= 16
    assert out.finish_reason in ("stop", "length")
    assert out.meta["attempts"] == 1 and out.seconds > 0
    # transformers serve 5.17 echoes the model with its revision ("...@main"); later versions without.
    assert out.meta["model"] in (smol_server.model, f"{smol_server.model}@main")

    tok = AutoTokenizer.from_pretrained(smol_server.model)
    enc = tok.apply_chat_template(QUESTION, add_generation_prompt=True, tokenize=True)
    ids = enc["input_ids"] if hasattr(enc, "keys") else enc
    # transformers serve counts exactly the templated prompt (default system turn included).
    assert out.prompt_tokens == len(ids)


@server_test
def test_greedy_is_deterministic(smol_server):
    engine = _engine(smol_server)

    async def twice():
        a = await engine.generate(_request(max_new_tokens=16))
        b = await engine.generate(_request(max_new_tokens=16))
        return a, b

    a, b = _run(engine, twice)
    assert a.text == b.text
    assert a.response_tokens == b.response_tokens


@server_test
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


@server_test
def test_max_tokens_is_honoured(smol_server):
    engine = _engine(smol_server)
    req = _request([{"role": "user", "content": "Write a long story about a dragon."}], max_new_tokens=5)
    out = _run(engine, lambda: engine.generate(req))
    assert out.response_tokens <= 5
    assert out.finish_reason == "length"


@pytest.fixture(scope="module")
def qwen_server(tmp_path_factory):
    """The tiny random Qwen3 (real Qwen3 chat template) behind ``transformers serve``."""
    from tests.helpers.serve_process import ServeProcess

    server = ServeProcess("tiny-qwen3", device="cpu", startup_timeout_s=180,
                          env={"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"},
                          log_path=tmp_path_factory.mktemp("serve-qwen") / "transformers-serve.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@server_test
def test_chat_template_kwargs_pass_through(qwen_server):
    """``template_kwargs`` reach the server's chat template: Qwen3's template prefills an empty
    thought (4 more prompt tokens) with enable_thinking off, so the server's prompt count
    changes with the switch only if the kwargs arrive."""
    engine = _engine(qwen_server)
    on = _request(max_new_tokens=4, template_kwargs={"enable_thinking": True})
    off = _request(max_new_tokens=4, template_kwargs={"enable_thinking": False})
    assert engine.body(off)["chat_template_kwargs"] == {"enable_thinking": False}
    assert "chat_template_kwargs" not in engine.body(_request())

    async def both():
        return await engine.generate(on), await engine.generate(off)

    a, b = _run(engine, both)
    assert b.prompt_tokens == a.prompt_tokens + 4  # "<think>\n\n</think>\n\n" prefilled


@server_test
def test_stop_string_is_cut_like_openai(smol_server):
    engine = _engine(smol_server)
    count = [{"role": "user", "content": "Count from 1 to 10, separated by commas."}]
    free_req = _request(count, max_new_tokens=32)
    req = _request(count, max_new_tokens=32, stop=("5",))

    async def both():
        return await engine.generate(free_req), await engine.generate(req)

    free, out = _run(engine, both)
    # Greedy: without the stop the same answer runs past a "5"; with it, it ends there.
    assert "5" in free.text
    # transformers serve returns the text up to and including the stop string; the engine
    # drops it (OpenAI/vLLM semantics, same as the HF engine).
    assert "5" not in out.text
    assert out.text == free.text[:free.text.index("5")].strip()
    assert out.finish_reason == "stop"
    assert out.response_tokens < free.response_tokens


@server_test
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


@server_test
def test_budget_forcing_over_transformers_serve(smol_server):
    """The thought stops at thinking_tokens; the same turn goes on through /v1/completions."""
    from scale.engine.hf_batching import Row
    from scale.engine.hf_engine import HFEngine
    from scale.engine.reasoning import THINK_CLOSE
    from tests.helpers.exact import tie_free_length

    engine = _engine(smol_server, send_top_k=False)
    budget = BudgetForcing(thinking_tokens=8, answer_tokens=6)
    req = GenerationRequest([{"role": "user", "content": "What is 12 times 12?"}],
                            SamplingParams(temperature=0.0, max_new_tokens=999), budget=budget)
    out = _run(engine, lambda: engine.generate(req))
    assert out.meta["forcing_mode"] == "completions" and out.meta["attempts"] == 2
    assert out.forced and out.finish_reason == "budget"
    close = len(engine.prompt_tokenizer.get()(budget.close_text, add_special_tokens=False)["input_ids"])
    assert out.reasoning_tokens == 8 + close == out.meta["thinking_tokens"]
    assert 8 + close < out.response_tokens <= 8 + close + 6
    assert out.reasoning and out.text and "</think>" not in out.text
    # The same greedy thought as the in-process engine decodes from the same rendered prompt, up
    # to the first near-tied token: the server's kernels may round another way (exact.py).
    local = HFEngine("smollm2-135m-instruct", scheduler="iteration")
    expected = asyncio.run(local.generate(req))
    assert out.prompt_tokens == expected.prompt_tokens
    prompt = local.render(req, open_thought=True)
    thought = asyncio.run(local._submit(Row(prompt, 8, (THINK_CLOSE,), req.sampling))).token_ids
    n = tie_free_length(local.model, prompt, thought)
    if n == len(thought):
        assert out.reasoning == expected.reasoning
    else:
        assert out.reasoning.startswith(local.tokenizer.decode(thought[:n]).strip())


@server_test
def test_context_window_over_transformers_serve(smol_server):
    engine = _engine(smol_server)
    prompt = engine.prompt_tokenizer.count(QUESTION, {})

    async def both():
        capped = await engine.generate(_request(max_new_tokens=30, context_length=prompt + 7, context_margin=2))
        sent = engine.attempts_total
        over = await engine.generate(_request(max_new_tokens=30, context_length=prompt + 2, context_margin=2))
        return capped, over, engine.attempts_total - sent

    capped, over, calls = _run(engine, both)
    assert capped.prompt_tokens == prompt and capped.response_tokens <= 5
    assert capped.meta["max_new_tokens"] == 5 and capped.meta["prompt_tokens_source"] == "tokenizer"
    assert (over.finish_reason, over.text, over.prompt_tokens, calls) == ("context_overflow", "", prompt, 0)


@server_test
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
    assert "ClientConnectorError" in msg  # the connection was refused, said once
    assert "\n" not in msg
    assert engine.attempts_total == 3
    assert elapsed < 5


def test_retries_on_503_and_broken_json():
    """A raw HTTP server answers 503, then broken JSON, then an empty body, then a good one."""
    good = {"id": "x1", "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": "<think>2+3 is 5</think>The answer is 5."}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 12, "total_tokens": 22}}
    replies = [(503, b'{"error": "busy"}'), (200, b'{"choices": [tru'), (200, b""), (200, good)]

    async def main():
        async with RawServer(lambda path, body: replies[min(len(server.seen), len(replies)) - 1]) as server:
            engine = OpenAIEngine(server.base_url, "m", max_retries=4, backoff_s=0.01,
                                  backoff_max_s=0.02, extra_body={"repetition_penalty": 1.1})
            try:
                req = GenerationRequest(messages=QUESTION, stop=("\n\n",),
                                        sampling=SamplingParams(temperature=0.6, top_p=0.95, top_k=20,
                                                                seed=7, max_new_tokens=64),
                                        template_kwargs={"enable_thinking": True})
                return await engine.generate(req), server.seen
            finally:
                await engine.aclose()

    out, seen = asyncio.run(main())
    assert len(seen) == 4 and out.meta["attempts"] == 4
    assert seen[0] == ("/v1/chat/completions",
                       {"model": "m", "messages": QUESTION, "temperature": 0.6, "top_p": 0.95,
                        "max_tokens": 64, "seed": 7, "stop": ["\n\n"], "top_k": 20,
                        "chat_template_kwargs": {"enable_thinking": True},
                        "repetition_penalty": 1.1})
    assert out.text == "The answer is 5." and out.reasoning == "2+3 is 5"
    assert out.response_tokens == 12 and out.prompt_tokens == 10
    assert out.reasoning_tokens == round(12 * 8 / (8 + 16))
    assert out.meta["reasoning_tokens_estimated"] is True


def _chat(content: str, finish: str = "stop", prompt: int = 10, completion: int = 5, **extra) -> dict:
    return {"id": "r", "model": "m", "choices": [{"index": 0, "finish_reason": finish, **extra,
                                                  "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion}}


VLLM_CONTEXT_400 = {"object": "error", "type": "BadRequestError", "code": 400,
                    "message": "This model's maximum context length is 4096 tokens. However, you requested 5000 "
                               "tokens (4990 in the messages, 10 in the completion). Please reduce the length."}


def test_context_length_400_is_a_context_overflow():
    """No local tokenizer, no /tokenize: the server's own 400 becomes a context_overflow, not an error."""

    def reply(path, body):
        return (404, {"detail": "Not Found"}) if path == "/tokenize" else (400, VLLM_CONTEXT_400)

    async def main():
        async with RawServer(reply) as server:
            engine = OpenAIEngine(server.base_url, "no-such-local-model", max_retries=3, backoff_s=0.01)
            try:
                req = _request(max_new_tokens=10, context_length=4096)
                return await engine.generate(req), await engine.generate(req), list(server.seen)
            finally:
                await engine.aclose()

    first, second, seen = asyncio.run(main())
    for c in (first, second):
        assert (c.finish_reason, c.text, c.response_tokens) == ("context_overflow", "", 0)
        assert "maximum context length is 4096" in c.meta["context_error"]
    # /tokenize was tried once, found missing, and not asked again; the 400 was not retried.
    assert [p for p, _ in seen] == ["/tokenize", "/v1/chat/completions", "/v1/chat/completions"]


def test_server_tokenize_caps_max_tokens():
    """With vLLM's /tokenize the engine knows the prompt length and caps max_tokens before the call."""

    def reply(path, body):
        if path == "/tokenize":
            return 200, {"count": 50, "max_model_len": 100, "tokens": list(range(50))}
        return 200, _chat("ok", finish="length", prompt=50, completion=int(body["max_tokens"]))

    async def main():
        async with RawServer(reply) as server:
            engine = OpenAIEngine(server.base_url, "no-such-local-model")
            try:
                capped = await engine.generate(_request(max_new_tokens=64, context_length=100, context_margin=10))
                roomy = await engine.generate(_request(max_new_tokens=8, context_length=100))
                full = await engine.generate(_request(max_new_tokens=8, context_length=55, context_margin=5))
                return capped, roomy, full, list(server.seen)
            finally:
                await engine.aclose()

    capped, roomy, full, seen = asyncio.run(main())
    assert capped.meta["max_new_tokens"] == 40 and capped.meta["prompt_tokens_source"] == "server"
    assert roomy.meta["max_new_tokens"] == 8
    assert full.finish_reason == "context_overflow" and full.prompt_tokens == 50
    bodies = [b for p, b in seen if p == "/v1/chat/completions"]
    assert [b["max_tokens"] for b in bodies] == [40, 8]  # the overflow never reached the server
    assert seen[0][1] == {"model": "no-such-local-model", "messages": QUESTION, "add_generation_prompt": True}


def _forced_over(replies: list[dict]) -> tuple[Completion, list]:
    """Budget forcing (continue_final_message) against a raw server giving ``replies`` in turn."""

    async def main():
        async with RawServer(lambda path, body: (200, replies[len(server.seen) - 1])) as server:
            engine = OpenAIEngine(server.base_url, "no-such-local-model")
            try:
                req = GenerationRequest(QUESTION, SamplingParams(temperature=0.6, seed=11, max_new_tokens=999),
                                        {"enable_thinking": True}, stop=("\n\n",),
                                        budget=BudgetForcing(thinking_tokens=8, answer_tokens=6))
                return await engine.generate(req), list(server.seen)
            finally:
                await engine.aclose()

    return asyncio.run(main())


def test_budget_forcing_by_continuing_the_final_message():
    """No local tokenizer: the thought, then the same assistant turn continued (vLLM/SGLang option)."""
    out, seen = _forced_over([_chat("Let me think about 2 and 3", finish="length", prompt=20, completion=8),
                              _chat("The answer is 5.", prompt=31, completion=4)])
    (_, think), (_, answer) = seen
    assert think["messages"] == [*QUESTION, {"role": "assistant", "content": "<think>\n"}]
    assert (think["continue_final_message"], think["add_generation_prompt"]) == (True, False)
    assert (think["max_tokens"], think["stop"], think["seed"]) == (8, ["</think>"], 11)
    assert think["chat_template_kwargs"] == {"enable_thinking": True}
    assert answer["messages"][-1]["content"] == "<think>\nLet me think about 2 and 3\n</think>\n\n"
    assert (answer["max_tokens"], answer["stop"]) == (6, ["\n\n"])
    assert answer["seed"] == derive_seed(11, 1)  # the answer does not replay the thought's draws
    assert out.forced and out.finish_reason == "budget" and out.meta["forcing_mode"] == "continue_final_message"
    assert (out.reasoning, out.text) == ("Let me think about 2 and 3", "The answer is 5.")
    # thought 8 + closing (31 - 20 - 8 = 3, as the server counted it) + answer 4
    assert (out.response_tokens, out.reasoning_tokens, out.prompt_tokens) == (15, 11, 20)


def test_budget_forcing_reads_sglang_matched_stop():
    """SGLang names the stop string in ``matched_stop`` and drops it: the model closed its own thought."""
    out, seen = _forced_over([_chat("2 and 3 make 5", prompt=20, completion=6, matched_stop="</think>"),
                              _chat("The answer is 5.", prompt=27, completion=4, matched_stop="\n\n")])
    assert len(seen) == 2  # not read as "the turn ended inside the thought"
    assert seen[1][1]["messages"][-1]["content"] == "<think>\n2 and 3 make 5</think>"
    assert not out.forced and out.finish_reason == "stop"
    assert (out.reasoning, out.text, out.reasoning_tokens, out.response_tokens) == (
        "2 and 3 make 5", "The answer is 5.", 6, 10)


def _reasoned(reasoning_key: str, reasoning: str | None, content: str | None, finish: str, prompt: int,
              completion: int) -> dict:
    message = {"role": "assistant", "content": content, reasoning_key: reasoning}
    return {"id": "r", "model": "m", "choices": [{"index": 0, "finish_reason": finish, "message": message}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion}}


def test_budget_forcing_reads_a_reasoning_parsers_fields():
    """vLLM --reasoning-parser moves the thought (and, lacking a </think>, the answer) out of ``content``."""
    out, seen = _forced_over([_reasoned("reasoning_content", "Let me think about 2 and 3", None, "length", 20, 8),
                              _reasoned("reasoning", "The answer is 5.", None, "stop", 31, 4)])
    assert seen[1][1]["messages"][-1]["content"] == "<think>\nLet me think about 2 and 3\n</think>\n\n"
    assert out.forced and out.finish_reason == "budget"
    assert (out.reasoning, out.text) == ("Let me think about 2 and 3", "The answer is 5.")
    # Split at a </think> the model wrote: the thought is the part before it, and it was closed, not forced.
    out, seen = _forced_over([_reasoned("reasoning_content", "2 and 3 make 5", "5", "stop", 20, 7),
                              _chat("The answer is 5.", prompt=27, completion=4)])
    assert seen[1][1]["messages"][-1]["content"] == "<think>\n2 and 3 make 5</think>"
    assert not out.forced and (out.reasoning, out.text) == ("2 and 3 make 5", "The answer is 5.")


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
    assert engine.tokenize_url == "https://example.invalid/tokenize"
    with pytest.raises(ConfigError, match="budget_forcing.*'prefill'"):
        OpenAIEngine("http://127.0.0.1:8000/v1", "m", budget_forcing="prefill")
    # completions mode renders the prompt locally: without a tokenizer it is refused by name.
    engine = OpenAIEngine("http://127.0.0.1:8000/v1", "no-such-local-model", budget_forcing="completions")
    budget = GenerationRequest(messages=QUESTION, budget=BudgetForcing(thinking_tokens=8))
    with pytest.raises(ConfigError, match="budget_forcing=completions.*engine.tokenizer"):
        asyncio.run(engine.generate(budget))
