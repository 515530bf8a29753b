"""Prompt-prefix reuse: the store's bookkeeping (tier 1) and exact decoding with it (tier 2).

    pytest tests/engine/test_hf_prefix.py
"""

from __future__ import annotations

import pytest
import torch

from scale.engine.hf_batching import Row, generate_rows
from scale.engine.hf_decode import DecodeBatch
from scale.engine.hf_prefix import PrefixCache, common_prefix
from tests.helpers.exact import EXACT_DTYPE


def _kv(n: int, layers: int = 2) -> list[tuple[torch.Tensor, torch.Tensor]]:
    t = torch.arange(n, dtype=torch.float32).view(1, 1, n, 1)
    return [(t.clone(), -t.clone()) for _ in range(layers)]


@pytest.mark.parametrize("a, b, n", [([], [1], 0), ([1, 2, 3], [1, 2, 4], 2), (list(range(200)), list(range(200)), 200),
                                     ([*range(130), 7], [*range(130), 8], 130)])
def test_common_prefix(a, b, n):
    assert common_prefix(a, b) == n == common_prefix(b, a)


def test_match_takes_the_longest_and_leaves_one_token_to_run():
    store = PrefixCache(max_tokens=1000, min_tokens=4)
    store.add(list(range(10)), _kv(10))
    store.add([0, 1, 2, 3, 4, 99, 98], _kv(7))
    key, n = store.match(list(range(20)))
    assert key == tuple(range(10)) and n == 10
    # An identical prompt reuses all but its last token (its logits are needed).
    assert store.match(list(range(10)))[1] == 9
    # Below min_tokens nothing is reused.
    assert store.match([0, 1, 2, 50]) == (None, 0)
    k, v = store.take(key, 6)[0]
    assert k.shape[-2] == 6 and torch.equal(k.flatten(), torch.arange(6.0)) and torch.equal(v, -k) and store.reused_tokens == 6


def test_lru_bound_and_superseded_prefixes():
    store = PrefixCache(max_tokens=25, min_tokens=4)
    store.add([1] * 8, _kv(8))
    store.add([1] * 8 + [2, 2], _kv(10))  # extends the first: the first is dropped
    assert len(store) == 1 and store.tokens == 10
    store.add([3] * 10, _kv(10))
    store.match([1] * 12)
    store.take(tuple([1] * 8 + [2, 2]), 9)  # used: now the most recent
    store.add([4] * 10, _kv(10))  # over 25 tokens: the least recently used ([3]*10) goes
    assert store.tokens <= 25 and store.match([3] * 12) == (None, 0) and store.match([1] * 12)[1] == 8
    store.add([5] * 3, _kv(3))  # shorter than min_tokens: not stored
    assert store.match([5] * 5) == (None, 0)
    assert PrefixCache(max_tokens=0).add([1] * 40, _kv(40)) is None


@pytest.mark.tiny
def test_reused_prefixes_decode_exactly(tiny_model_dir):
    """Rows that reuse a stored prompt's KV cache decode the tokens of a plain padded generate:
    the prefix bookkeeping (which positions, which cache rows) changes no token. In float64
    (tests/helpers/exact.py): a reused prefix is computed at another shape than a fresh
    prefill, so in float32 its last bits, and a near-tied token, may differ."""
    from scale.models import load_model, load_tokenizer

    tok, model = load_tokenizer("tiny-qwen3"), load_model("tiny-qwen3", dtype=EXACT_DTYPE)
    head = tok("Problem: a train leaves at noon and travels sixty miles. " * 4, add_special_tokens=False)["input_ids"]
    tails = [tok(t, add_special_tokens=False)["input_ids"] for t in ["Step one?", "Step two, longer tail here?", "Go"]]
    first = [Row(head + t, 9) for t in tails] + [Row(head + tails[0], 6)]  # a shared head, one duplicate
    later = [Row(head + tails[1] + tails[2], 7), Row(tok("Unrelated.", add_special_tokens=False)["input_ids"], 5)]
    batch = DecodeBatch(model, tok, prefix_cache_tokens=4096, min_prefix_tokens=8)

    def run(rows):
        out = dict(batch.admit(rows, list(range(len(rows)))))
        while len(batch):
            out.update(batch.step())
        return [out[i].token_ids for i in range(len(rows))]

    got_first = run(first)
    assert batch.stats.shared_prefills == 1  # the shared head ran once, ahead of the four rows
    computed = batch.stats.computed_tokens
    assert computed < sum(len(r.prompt_ids) for r in first)
    got_later = run(later)  # the first later row extends a stored prompt
    assert batch.stats.computed_tokens - computed < sum(len(r.prompt_ids) for r in later)
    for rows, got in ((first, got_first), (later, got_later)):
        assert got == [r.token_ids for r in generate_rows(model, tok, rows)]
