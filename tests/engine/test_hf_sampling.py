"""Vectorised per-row sampling: settings honoured, seeded rows batch-invariant (tier 1).

    pytest tests/engine/test_hf_sampling.py
"""

from __future__ import annotations

import math

import torch

from scale.engine.hf_sampling import sample_rows, seeded_generator
from scale.engine.types import SamplingParams

PROBS = [0.5, 0.3, 0.2]


def _logits(rows: int = 1, vocab: int = 3) -> torch.Tensor:
    base = torch.full((vocab,), -1e9)
    base[:3] = torch.log(torch.tensor(PROBS))
    return base.repeat(rows, 1)


def _draws(params: SamplingParams, n: int, logits: torch.Tensor | None = None) -> list[int]:
    g = seeded_generator(params)
    logits = _logits() if logits is None else logits
    return [sample_rows(logits, [params], [g])[0] for _ in range(n)]


def test_greedy_rows_take_the_argmax():
    logits = torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 0.0]])
    assert sample_rows(logits, [None, SamplingParams()], [None, None]) == [1, 0]
    assert seeded_generator(None) is None and seeded_generator(SamplingParams()) is None


def test_frequencies_follow_the_distribution():
    draws = _draws(SamplingParams(temperature=1.0, seed=0), 6000)
    for token, p in enumerate(PROBS):
        freq = draws.count(token) / len(draws)
        assert abs(freq - p) < 4 * math.sqrt(p * (1 - p) / len(draws)), (token, freq, p)


def test_top_k_and_top_p_cut_the_support():
    assert set(_draws(SamplingParams(temperature=1.0, top_k=2, seed=1), 500)) == {0, 1}
    # top_p 0.6: token 0 (0.5) is kept, token 1 (mass before it 0.5 < 0.6) too, token 2 not.
    assert set(_draws(SamplingParams(temperature=1.0, top_p=0.6, seed=2), 500)) == {0, 1}
    assert set(_draws(SamplingParams(temperature=1.0, top_k=1, seed=3), 100)) == {0}
    assert set(_draws(SamplingParams(temperature=1.0, top_p=0.01, seed=4), 100)) == {0}


def test_low_temperature_concentrates():
    draws = _draws(SamplingParams(temperature=0.05, seed=5), 300)
    assert draws.count(0) >= 295


def test_seeded_row_is_independent_of_its_neighbours():
    torch.manual_seed(0)
    vocab = 500
    target = SamplingParams(temperature=0.8, top_p=0.9, top_k=50, seed=11)
    neighbours = [None, SamplingParams(temperature=1.0, seed=12), SamplingParams(temperature=0.3, top_k=5, seed=13)]
    steps = [torch.randn(4, vocab) for _ in range(50)]
    alone_g = seeded_generator(target)
    alone = [sample_rows(s[2:3], [target], [alone_g])[0] for s in steps]
    params = [*neighbours[:2], target, neighbours[2]]
    gens = [seeded_generator(p) for p in params]
    mixed = [sample_rows(s, params, gens)[2] for s in steps]
    assert mixed == alone
    other = seeded_generator(SamplingParams(temperature=0.8, top_p=0.9, top_k=50, seed=99))
    assert [sample_rows(s[2:3], [target], [other])[0] for s in steps] != alone


def test_wide_nucleus_falls_back_to_a_full_sort():
    """top-p without top-k on a flat distribution: the nucleus is wider than the candidates."""
    torch.manual_seed(1)
    logits = torch.randn(1, 4000) * 0.01
    params = SamplingParams(temperature=1.0, top_p=0.5, seed=21)
    draws = _draws(params, 3000, logits)
    assert len(set(draws)) > 1100  # beyond the 1024 candidates looked at first
    nucleus = set(torch.sort(logits[0], descending=True).indices[:2100].tolist())
    assert set(draws) <= nucleus  # ~2000 tokens hold half the mass; the rest never comes
