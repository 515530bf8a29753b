"""HF engine on the tiny random Qwen3 with the real Qwen3 chat template (tier 2)."""

from __future__ import annotations

import asyncio

import pytest

from scale.engine.hf_batching import Row
from scale.engine.hf_engine import HFEngine
from scale.engine.hf_sampling import derive_seed
from scale.engine.reasoning import THINK_CLOSE, split_reasoning
from scale.engine.types import BudgetForcing, GenerationRequest, SamplingParams
from scale.errors import ConfigError
from scale.ledger import Ledger
from scale.systems import System, SystemConfig
from tests.helpers.engine_requests import fresh_stop
from tests.helpers.exact import EXACT_DTYPE

pytestmark = pytest.mark.tiny


@pytest.fixture(scope="module", params=["iteration", "static", "continuous"])
def engine(request, tiny_model_dir):
    # continuous: a small paged cache (the default reserves a share of free memory, GBs on CPU)
    engine = HFEngine("tiny-qwen3", max_batch_size=8, scheduler=request.param, cb_cache_tokens=8192)
    yield engine
    asyncio.run(engine.aclose())


@pytest.fixture(scope="module", params=["iteration", "static", "continuous"])
def exact_engine(request, tiny_model_dir):
    """The same engine in float64, for tokens compared across batch make-ups (tests/helpers/exact.py)."""
    engine = HFEngine("tiny-qwen3", dtype=EXACT_DTYPE, max_batch_size=8, scheduler=request.param,
                      cb_cache_tokens=8192)
    yield engine
    asyncio.run(engine.aclose())


@pytest.fixture
def batch_sizes(monkeypatch):
    """``sizes(engine)``: the rows of each decode step since the last call, under every scheduler
    (the continuous manager batches inside transformers: its rows are read at the draw)."""
    from scale.engine import hf_continuous

    drawn: list[int] = []
    real = hf_continuous._Draw.__call__

    def spy(self, scores, tensor_arg):
        drawn.append(scores.size(0))
        return real(self, scores, tensor_arg)

    monkeypatch.setattr(hf_continuous._Draw, "__call__", spy)

    def sizes(engine) -> list[int]:
        got = list(drawn if engine.scheduler == "continuous" else engine.batch_sizes)
        drawn.clear()
        engine.batch_sizes.clear()
        return got

    return sizes


def _req(i: int, max_new: int = 12, thinking: bool = False, **kw) -> GenerationRequest:
    return GenerationRequest(
        ({"role": "user", "content": f"Question number {i}: what is {i} + {i}?"},),
        SamplingParams(max_new_tokens=max_new, **kw),
        {"enable_thinking": thinking},
    )


def test_batched_greedy_equals_one_by_one(exact_engine, batch_sizes):
    """Greedy rows batched together decode the tokens they decode alone, under each scheduler:
    the batching logic (left padding, positions, masks, per-row budgets) changes no token. In
    float64, so that rounding, which batching may change, cannot flip a token (exact.py)."""
    engine = exact_engine
    reqs = [_req(i, max_new=4 + 3 * i, thinking=i % 2 == 0) for i in range(6)]

    async def run():
        batch_sizes(engine)
        batched = await asyncio.gather(*(engine.generate(r) for r in reqs))
        sizes = batch_sizes(engine)
        single = [await engine.generate(r) for r in reqs]
        return batched, sizes, single

    batched, sizes, single = asyncio.run(run())
    assert max(sizes) > 1, f"requests were not batched: {sizes}"
    for b, s, r in zip(batched, single, reqs):
        assert (b.text, b.reasoning, b.response_tokens) == (s.text, s.reasoning, s.response_tokens)
        # Per-request budgets are honoured inside one batch.
        assert b.response_tokens <= r.sampling.max_new_tokens


def test_token_counts_equal_tokenizer_counts(engine):
    req = _req(3, max_new=9)
    c = asyncio.run(engine.generate(req))
    tok = engine.tokenizer
    prompt = tok.apply_chat_template(list(req.messages), add_generation_prompt=True, tokenize=True,
                                     enable_thinking=False, return_dict=True)["input_ids"]
    assert c.prompt_tokens == len(prompt)
    # Random weights rarely emit eos: the budget is spent exactly.
    assert c.finish_reason == "length" and c.response_tokens == 9
    ledger = Ledger()
    system = System(SystemConfig("s1", "s1", "main", SamplingParams(max_new_tokens=9),
                                 {"enable_thinking": False}), engine)
    c2 = asyncio.run(system.ask(list(req.messages), stage="solve", ledger=ledger, step=0))
    (call,) = ledger.calls
    assert (call.prompt_tokens, call.response_tokens) == (len(prompt), c2.response_tokens) == (len(prompt), 9)
    assert call.stage == "solve" and call.mode == "s1" and call.seconds > 0


def test_budget_forcing_closes_thought_and_answers(engine):
    budget = BudgetForcing(thinking_tokens=10, answer_tokens=6)
    req = GenerationRequest(({"role": "user", "content": "Think hard: 7 * 6?"},),
                            SamplingParams(max_new_tokens=200), {"enable_thinking": True}, budget=budget)
    c = asyncio.run(engine.generate(req))
    assert c.forced and c.finish_reason == "budget"
    close_ids = engine.tokenizer("\n</think>\n\n", add_special_tokens=False)["input_ids"]
    assert c.meta["thinking_tokens"] == 10 + len(close_ids)
    assert c.response_tokens == 10 + len(close_ids) + 6
    # The thought is closed and counted up to its closing tag; the answer is separate.
    assert 0 < c.reasoning_tokens <= c.meta["thinking_tokens"]
    assert c.reasoning and "</think>" not in c.text and "<think>" not in c.reasoning


def test_thinking_switch_changes_prompt(engine):
    on = asyncio.run(engine.generate(_req(1, thinking=True)))
    off = asyncio.run(engine.generate(_req(1, thinking=False)))
    assert off.prompt_tokens == on.prompt_tokens + 4  # "<think>\n\n</think>\n\n" prefilled


def test_stop_strings_cut_the_row(engine):
    """A stop string ends the row at the token that completes it. The stop is taken from the
    row's own free run (its 3rd token completes it), so it exists whatever the random weights;
    both runs decode the row alone, so fp32 tokens are equal."""
    req = _req(5, max_new=20)

    async def free_tokens():
        return (await engine._submit(Row(engine.render(req), 20, (), req.sampling))).token_ids

    free = asyncio.run(free_tokens())
    stop = fresh_stop(engine.tokenizer, free, 3)
    cut = GenerationRequest(req.messages, SamplingParams(max_new_tokens=20), {"enable_thinking": False},
                            stop=(stop,))
    c = asyncio.run(engine.generate(cut))
    assert stop not in c.text and c.finish_reason == "stop"
    assert c.response_tokens == 3 < len(free)


def test_sampling_with_seed_is_reproducible(engine):
    r = _req(2, max_new=8, temperature=1.0, top_p=0.95, top_k=20, seed=123)
    a = asyncio.run(engine.generate(r))
    b = asyncio.run(engine.generate(r))
    assert a.text == b.text


@pytest.mark.parametrize(
    "kwargs, word",
    [({"temperature": -1}, "temperature"), ({"max_new_tokens": 0}, "max_new_tokens"),
     ({"top_p": 0}, "top_p"), ({"top_k": -2}, "top_k")],
)
def test_bad_sampling_values_named(kwargs, word):
    with pytest.raises(ConfigError, match=word):
        SamplingParams(**kwargs)


def test_bad_budget():
    with pytest.raises(ConfigError, match=r"^budget.thinking_tokens must be >= 1, got -5$"):
        BudgetForcing(thinking_tokens=-5)


@pytest.mark.parametrize(
    "text, started, expected",
    [("<think>a</think>b", False, ("a", "b")),
     ("a</think>b", False, ("a", "b")),
     ("<think>unfinished", False, ("unfinished", "")),
     ("plain", False, ("", "plain")),
     ("all thought", True, ("all thought", "")),
     ("<think>\n\n</think>\n\nanswer", False, ("", "answer"))],
)
def test_split_reasoning(text, started, expected):
    assert split_reasoning(text, started_in_thought=started) == expected


def test_seeded_sampling_is_batch_invariant(exact_engine, batch_sizes):
    """A seeded row draws the same tokens alone and inside a mixed batch, under each scheduler:
    its draws depend on its seed and positions only, not on the rows beside it (per-row RNG and
    settings). The batch is checked to hold more than one row. In float64: float32 rounding
    that depends on the batch can move a near-uniform draw to the next token (exact.py)."""
    engine = exact_engine
    target = _req(4, max_new=10, temperature=0.8, top_p=0.9, top_k=50, seed=7)
    others = [_req(i, max_new=6 + i, temperature=1.0, seed=100 + i) for i in range(3)] + [_req(9, max_new=5)]

    async def run():
        alone = await engine.generate(target)
        batch_sizes(engine)
        mixed = await asyncio.gather(engine.generate(target), *(engine.generate(r) for r in others))
        return alone, mixed[0], batch_sizes(engine)

    alone, in_batch, sizes = asyncio.run(run())
    assert max(sizes) > 1, f"requests were not batched: {sizes}"
    assert alone.text == in_batch.text and alone.response_tokens == in_batch.response_tokens
    other_seed = asyncio.run(engine.generate(_req(4, max_new=10, temperature=0.8, top_p=0.9, top_k=50, seed=8)))
    assert other_seed.text != alone.text


def test_forced_answer_draws_with_its_own_seed(engine):
    """Budget forcing: the answer phase draws with a seed derived from the request's, not the same one."""
    sampling = SamplingParams(max_new_tokens=99, temperature=1.0, seed=42)
    req = GenerationRequest(({"role": "user", "content": "Think: 9 * 9?"},), sampling, {"enable_thinking": True},
                            budget=BudgetForcing(thinking_tokens=6, answer_tokens=8))
    close = engine.tokenizer("\n</think>\n\n", add_special_tokens=False)["input_ids"]

    async def run():
        forced = await engine.generate(req)
        prompt = engine.render(req, open_thought=True)
        thought = (await engine._submit(Row(prompt, 6, (THINK_CLOSE,), sampling))).token_ids + close
        answers = {}
        for name, seed in (("derived", derive_seed(42, 1)), ("same", 42)):
            row = Row(prompt + thought, 8, (), SamplingParams(max_new_tokens=8, temperature=1.0, seed=seed))
            answers[name] = (await engine._submit(row)).token_ids
        return forced, answers

    forced, answers = asyncio.run(run())
    assert forced.forced and forced.response_tokens == 6 + len(close) + 8
    decode = engine.tokenizer.decode
    assert forced.text == decode(answers["derived"], skip_special_tokens=True).strip()
    assert answers["derived"] != answers["same"]


def _ctx_req(context_length, margin=0, max_new=20, budget=None):
    return GenerationRequest(({"role": "user", "content": "Context window test."},), SamplingParams(max_new_tokens=max_new),
                             {"enable_thinking": budget is not None}, budget=budget, context_length=context_length,
                             context_margin=margin)


def test_context_window_caps_every_call(engine):
    prompt = len(engine.render(_ctx_req(None)))
    capped = asyncio.run(engine.generate(_ctx_req(prompt + 7, margin=2)))
    assert capped.response_tokens == 5 and capped.finish_reason == "length"
    assert capped.meta["max_new_tokens"] == 5
    roomy = asyncio.run(engine.generate(_ctx_req(prompt + 1000, margin=2, max_new=6)))
    assert roomy.response_tokens == 6 and roomy.meta["max_new_tokens"] == 6


def test_prompt_without_room_is_a_context_overflow(engine):
    prompt = len(engine.render(_ctx_req(None)))
    for length, margin in ((prompt, 0), (prompt + 3, 3), (prompt - 10, 0)):
        c = asyncio.run(engine.generate(_ctx_req(length, margin)))
        assert (c.finish_reason, c.text, c.response_tokens, c.prompt_tokens) == ("context_overflow", "", 0, prompt)
        assert c.meta["max_new_tokens"] == 0


def test_forced_thought_and_answer_fit_the_window(engine):
    budget = BudgetForcing(thinking_tokens=30, answer_tokens=6)
    prompt = len(engine.render(_ctx_req(None, budget=budget), open_thought=True))
    close = len(engine.tokenizer(budget.close_text, add_special_tokens=False)["input_ids"])
    c = asyncio.run(engine.generate(_ctx_req(prompt + 20, budget=budget)))
    # The thought leaves room for the closing text and the whole answer budget.
    assert c.forced and c.meta["thinking_cap"] == 20 - close - 6
    assert c.response_tokens == 20 and c.meta["answer_cap"] == 6
    tight = asyncio.run(engine.generate(_ctx_req(prompt + 3, budget=budget)))
    assert tight.response_tokens <= 3


def test_auto_scheduler_is_iteration_on_cpu(tiny_model_dir):
    assert HFEngine("tiny-qwen3", scheduler="auto").scheduler == "iteration"
