"""Per-row sampling on the device: settings honoured, seeded rows batch-invariant (tier 1).

    pytest tests/engine/test_hf_sampling.py
"""

from __future__ import annotations

import math

import pytest
import torch

from scale.engine.hf_sampling import (
    _inverse_cdf,
    derive_seed,
    row_seed,
    sample_rows,
    sample_tokens,
    sampling_table,
    uniform,
)
from scale.engine.types import SamplingParams

PROBS = [0.5, 0.3, 0.2]


def _logits(rows: int = 1, vocab: int = 3) -> torch.Tensor:
    base = torch.full((vocab,), -1e9)
    base[:3] = torch.log(torch.tensor(PROBS))
    return base.repeat(rows, 1)


def _draws(params: SamplingParams, n: int, logits: torch.Tensor | None = None) -> list[int]:
    """``n`` draws of one row: one per position, as a row decoding ``n`` tokens makes them."""
    seed = row_seed(params)
    logits = _logits() if logits is None else logits
    return [sample_rows(logits, [params], [seed], [pos])[0] for pos in range(n)]


def test_greedy_rows_take_the_argmax():
    logits = torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 0.0]])
    assert sample_rows(logits, [None, SamplingParams()], [None, None], [0, 0]) == [1, 0]
    assert row_seed(None) is None and row_seed(SamplingParams()) is None


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
    alone = [sample_rows(s[2:3], [target], [11], [40 + t])[0] for t, s in enumerate(steps)]
    params = [*neighbours[:2], target, neighbours[2]]
    seeds = [row_seed(p) for p in params]
    mixed = [sample_rows(s, params, seeds, [7 + t, 3 + t, 40 + t, 90 + t])[2] for t, s in enumerate(steps)]
    assert mixed == alone
    other = [sample_rows(s[2:3], [target], [99], [40 + t])[0] for t, s in enumerate(steps)]
    assert other != alone


def test_wide_nucleus_falls_back_to_a_full_sort():
    """top-p without top-k on a flat distribution: the nucleus is wider than the candidates."""
    torch.manual_seed(1)
    logits = torch.randn(1, 4000) * 0.01
    params = SamplingParams(temperature=1.0, top_p=0.5)
    rows = logits.repeat(100, 1)  # 100 rows with their own seeds, 30 positions each
    draws = [t for pos in range(30) for t in sample_rows(rows, [params] * 100, list(range(100)), [pos] * 100)]
    assert len(set(draws)) > 1100  # beyond the 1024 candidates looked at first
    nucleus = set(torch.sort(logits[0], descending=True).indices[:2100].tolist())
    assert set(draws) <= nucleus  # ~2000 tokens hold half the mass; the rest never comes


def test_a_zero_draw_never_picks_a_zero_probability_token():
    """u = 0 used to pick token 0 even at probability 0 (searchsorted's left side)."""
    probs = torch.tensor([[0.0, 0.0, 0.25, 0.75], [0.0, 0.5, 0.5, 0.0]])
    assert _inverse_cdf(probs, torch.tensor([0.0, 0.0])).tolist() == [2, 1]
    # The largest draw stays on the last positive token (trailing zeros are never reached).
    top = torch.tensor([1.0 - 2.0**-24] * 2)
    assert _inverse_cdf(probs, top).tolist() == [3, 2]
    # Through the whole sampler: plain, top-k and top-p rows, each drawing u = 0.
    logits = torch.log(torch.tensor([[0.0, 0.1, 0.6, 0.3]] * 3))
    table = torch.tensor([[1.0, 4.0, 1.0, 0.0], [1.0, 2.0, 1.0, 0.0], [1.0, 4.0, 0.95, 0.0]])
    picks, covered = sample_tokens(logits, table, candidates=4)
    assert picks.tolist() == [1, 2, 2] and covered.all()


def test_uniform_draws_are_counter_based():
    draws = [uniform(7, pos) for pos in range(20000)]
    assert all(0.0 <= u < 1.0 for u in draws)
    assert abs(sum(draws) / len(draws) - 0.5) < 0.01
    assert uniform(7, 3) == uniform(7, 3) != uniform(8, 3)
    # float32-exact: the device sees the same number the host computed.
    assert all(float(torch.tensor(u, dtype=torch.float32)) == u for u in draws[:100])


def test_phase_seeds_differ():
    assert derive_seed(5, 0) == 5
    assert len({derive_seed(5, 1), derive_seed(5, 2), derive_seed(6, 1), 5}) == 4


def test_table_marks_greedy_and_open_cuts():
    table = sampling_table([None, SamplingParams(temperature=0.5, top_k=0, top_p=0.9, seed=1)], [None, 1], [3, 4],
                           vocab=10)
    assert table[0].tolist() == [0.0, 10.0, 1.0, 0.0]
    assert table[1, :3].tolist() == pytest.approx([0.5, 10.0, 0.9]) and table[1, 3] == uniform(1, 4)


@pytest.mark.gpu
def test_device_sampling_does_not_sync():
    """sample_tokens runs without a device-to-host copy (the caller makes the step's one copy)."""
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    logits = torch.randn(64, 151936, device="cuda")
    params = [SamplingParams(temperature=0.7, top_p=0.9, seed=i) for i in range(64)]
    table = sampling_table(params, list(range(64)), [5] * 64, 151936).cuda()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        sample_tokens(logits, table, candidates=1024)
    finally:
        torch.cuda.set_sync_debug_mode("default")
