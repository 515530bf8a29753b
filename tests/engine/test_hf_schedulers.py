"""Every scheduler ends every row the same way, token for token (tier 2, tiny Qwen3, float64).

    pytest tests/engine/test_hf_schedulers.py

One test set, all rows in flight together: budgets hit at every position, stop strings
completed at every position (also on the last budgeted token, which is a stop, not the
budget), an extra end-of-turn id that ends rows early, and seeded sampled rows. The padded
``generate`` path (static), the iteration scheduler and transformers' continuous batching
must return exactly what the free-running decode implies.

The free run batches 4 rows, the schedulers ~45: in float64 (tests/helpers/exact.py), so that
rounding, which the row count may change, cannot flip a token; equal tokens then prove each
scheduler's stopping and per-row sampling logic.
"""

from __future__ import annotations

import asyncio

import pytest

from scale.engine.hf_batching import Row, check_finished, eos_ids, generate_rows
from scale.engine.hf_continuous import ContinuousScheduler
from scale.engine.hf_decode import DecodeBatch
from scale.engine.types import SamplingParams
from scale.models import load_model, load_tokenizer
from tests.helpers.engine_requests import fresh_stop
from tests.helpers.exact import EXACT_DTYPE

pytestmark = pytest.mark.tiny

LONGEST = 14


def _decode(model, tok, rows: list[Row]):
    batch = DecodeBatch(model, tok)
    out = dict(batch.admit(rows, list(range(len(rows)))))
    while len(batch):
        out.update(batch.step())
    return [out[i] for i in range(len(rows))]


@pytest.fixture(scope="module")
def case(tiny_model_dir):
    model, tok = load_model("tiny-qwen3", dtype=EXACT_DTYPE), load_tokenizer("tiny-qwen3")
    prompts = [tok(tok.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True,
                                           tokenize=False, enable_thinking=False), add_special_tokens=False)["input_ids"]
               for q in ["What is 2 + 2?", "Name three prime numbers, then stop.",
                         "Write one sentence about the sea " * 3, "Count to five."]]
    sampled = SamplingParams(temperature=0.9, top_k=30, top_p=0.95, seed=5)
    free = _decode(model, tok, [Row(p, LONGEST) for p in prompts[:3]] + [Row(prompts[3], LONGEST, sampling=sampled)])
    free = [r.token_ids for r in free]
    # An extra end-of-turn id: the 6th token of the first row's free run.
    extra_eos = free[0][5]
    model.generation_config.eos_token_id = [*eos_ids(model, tok), extra_eos]
    rows, tokens = [], []
    for k in range(1, LONGEST + 1):
        rows.append(Row(prompts[1], k))  # the budget, at every position
        tokens.append(free[1])
        stop = fresh_stop(tok, free[2], k)
        rows.append(Row(prompts[2], LONGEST, (stop, "never appears")))  # a stop string at every position
        rows.append(Row(prompts[2], k, (stop,)))  # ... completed on the last budgeted token
        tokens += [free[2], free[2]]
    rows += [Row(prompts[0], LONGEST), Row(prompts[3], LONGEST, (fresh_stop(tok, free[3], 9),), sampled),
             Row(prompts[3], 7, sampling=sampled)]
    tokens += [free[0], free[3], free[3]]
    eos = set(eos_ids(model, tok))
    expected = []
    for row, toks in zip(rows, tokens):
        res = next(r for n in range(1, len(toks) + 1) if (r := check_finished(row, toks[:n], eos, tok)))
        expected.append((res.token_ids, res.finish_reason, res.stop_string, res.eos))
    assert any(e[3] for e in expected) and any(e[2] for e in expected)
    assert any(e[1] == "stop" and len(e[0]) == r.max_new_tokens for e, r in zip(expected, rows))
    return model, tok, rows, expected


def _summary(results):
    return [(r.token_ids, r.finish_reason, r.stop_string, r.eos) for r in results]


def test_static_generate_path(case):
    """Padding after a row's stop is never read as its end-of-turn token (pad == eos here)."""
    model, tok, rows, expected = case
    assert tok.pad_token_id in eos_ids(model, tok)
    assert _summary(generate_rows(model, tok, rows)) == expected


def test_iteration_scheduler(case):
    model, tok, rows, expected = case
    assert _summary(_decode(model, tok, rows)) == expected


def test_continuous_batching(case):
    model, tok, rows, expected = case
    cb = ContinuousScheduler(model, tok, max_memory_percent=0.3, cache_tokens=8192)

    async def run():
        try:
            return await asyncio.gather(*(cb.submit(r) for r in rows))
        finally:
            cb.close()

    assert _summary(asyncio.run(run())) == expected
