"""The simulated OpenAI server (scale/testing/sim_server.py) at small scale (issue 22, item 1).

A real HTTP server in its own process; the client under test is the project's OpenAI engine
and runner. Checked: continuous batching reaches the configured batch; the endpoints and
fields a vLLM server has (chat and text completions, reasoning_content, the context window,
the Bearer key); and a run with injected faults loses nothing: every attempt is recorded
once, the tries per request are bounded by the engine's retries, and the errors recorded
are exactly the requests whose every try drew a fault.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from scale.engine.openai_engine import OpenAIEngine
from scale.engine.types import GenerationRequest, SamplingParams
from scale.rundir import RunDir
from scale.runner.run import run_eval
from scale.testing.config import compose
from scale.testing.sim_server import PROFILES, SimConfig, SimProcess, make_reply, sim_question


def _request(i: int, max_tokens: int = 4096, thinking: bool = True) -> GenerationRequest:
    return GenerationRequest(messages=[{"role": "user", "content": sim_question(i, "42")}],
                             sampling=SamplingParams(max_new_tokens=max_tokens, seed=i),
                             template_kwargs={"enable_thinking": thinking})


async def _generate_all(url: str, requests: list[GenerationRequest], **engine: object) -> list:
    e = OpenAIEngine(url, "sim", **engine)
    try:
        return await asyncio.gather(*(e.generate(r) for r in requests))
    finally:
        await e.aclose()


def test_occupancy_reaches_the_configured_batch():
    with SimProcess(max_batch=16, time_scale=10, length_scale=0.05, profile="cot") as sim:
        out = asyncio.run(_generate_all(sim.url, [_request(i) for i in range(64)], max_concurrency=64))
        stats = sim.stats()
    assert stats["max_running"] == 16 and stats["requests"] == 64
    # 64 requests over a batch of 16: most steps run full (the tail drains below it).
    assert stats["mean_batch"] > 12
    assert stats["decode_tokens"] == sum(c.response_tokens for c in out)


def test_replies_look_like_a_reasoning_server():
    with SimProcess(time_scale=100, length_scale=0.02, p_correct=1.0) as sim:
        (think, plain) = asyncio.run(_generate_all(sim.url, [_request(1), _request(2, thinking=False)]))
        body = {"model": "sim", "prompt": sim_question(3, "7"), "max_tokens": 20000}
        text = httpx.post(f"{sim.url}/completions", json=body, trust_env=False).json()
        big = {"model": "sim", "messages": [{"role": "user", "content": "x"}], "max_tokens": 40_960}
        over = httpx.post(f"{sim.url}/chat/completions", json=big, trust_env=False)
    assert think.reasoning and think.reasoning_tokens > 0 and "\\boxed{42}" in think.text
    assert not plain.reasoning and plain.reasoning_tokens == 0 and "\\boxed{42}" in plain.text
    assert text["object"] == "text_completion" and "\\boxed{7}" in text["choices"][0]["text"]
    assert over.status_code == 400 and "maximum context length is 40960" in over.json()["error"]["message"]


def test_lengths_follow_the_profile_and_are_seeded():
    cfg = SimConfig(profile="cot", text_chars_per_token=0)
    draws = [make_reply(cfg, sim_question(i, "1"), True, i, 10**6).tokens for i in range(400)]
    mean = sum(draws) / len(draws)
    assert abs(mean - PROFILES["cot"]["think"]) < 0.1 * PROFILES["cot"]["think"]
    assert draws == [make_reply(cfg, sim_question(i, "1"), True, i, 10**6).tokens for i in range(400)]
    cut = make_reply(cfg, sim_question(0, "1"), True, 0, 100)
    assert cut.tokens == 100 and "boxed" not in cut.text  # a budget cuts the answer off


def test_the_server_checks_the_bearer_key():
    with SimProcess(env={"SIM_TEST_KEY": "sk-right"}, api_key_env="SIM_TEST_KEY", time_scale=100,
                    length_scale=0.01) as sim:
        ok = asyncio.run(_generate_all(sim.url, [_request(0)], api_key="sk-right"))
        with pytest.raises(Exception, match="HTTP 401"):
            asyncio.run(_generate_all(sim.url, [_request(0)], api_key="sk-wrong", max_retries=0))
        with pytest.raises(Exception, match="HTTP 401"):
            asyncio.run(_generate_all(sim.url, [_request(0)], max_retries=0, api_key_env=None))
        assert sim.stats()["faults"]["401"] == 2
    assert ok[0].response_tokens > 0


def test_a_run_with_faults_loses_nothing(tmp_path, single_process):
    """CoT, 60 problems x 4 samples; 20% 500s, 10% 429s, 10% dropped connections, one retry."""
    data = tmp_path / "sim.jsonl"
    data.write_text("".join(json.dumps({"id": f"p{i}", "question": sim_question(i, str(i)), "answer": str(i)}) + "\n"
                            for i in range(60)))
    with SimProcess(time_scale=200, length_scale=0.01, p_500=0.2, p_429=0.1, p_drop=0.1, fault_seed=3) as sim:
        cfg = compose("method=cot_s2", f"data.path={data}", "systems=qwen3_32b", "engine=openai", "n_samples=4",
                      "engine.max_retries=1", "engine.backoff_s=0.01", "engine.backoff_max_s=0.02",
                      "runner.max_error_fraction=1.0", f"run_dir={tmp_path / 'run'}", "runner.progress=false",
                      "systems.s2.context_length=null")  # one POST per attempt: no /tokenize
        cfg["systems"]["engines"]["main"]["base_url"] = sim.url
        metrics = run_eval(cfg)
        stats = sim.stats()
    lines = [json.loads(x) for x in (tmp_path / "run" / "records.jsonl").read_text().splitlines()]
    keys = [(r["problem_id"], r["sample_idx"]) for r in lines]
    assert len(keys) == len(set(keys)) == 240  # every attempt recorded, once
    tries = stats["requests"] + sum(stats["faults"][k] for k in ("500", "429", "drop"))
    assert stats["requests"] + stats["bodies_never_served"] == 240
    assert tries <= 2 * 240  # retries bounded: 1 + max_retries tries per request
    errors = [r for r in lines if r.get("error")]
    # What the faults took past the retries is exactly what the run records as errors.
    assert len(errors) == stats["bodies_never_served"] == metrics.n_errors > 0
    assert metrics.errors == {"engine": len(errors)}
    assert len(RunDir(tmp_path / "run").collect().records) == 240
