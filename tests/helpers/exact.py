"""Exact token comparisons that hold on any CPU (docs/determinism.md).

Batching a request with others changes the shapes its matrix products run at, and CPU GEMM
kernels pick their blocking (so their summation order) by shape: the logits move in the last
bits. On the random tiny models a sampled draw is an inverse CDF over ~50k near-equal
probabilities, whose boundaries lie ~2e-5 apart: in float32 such a draw flips between two batch
make-ups now and then (seen on a 2-core AMD EPYC, and for 1 of 6 rows on this suite's Intel
box); a greedy argmax flips more rarely (top-2 margins down to ~2e-3 in 200 greedy steps) but
can. Two ways keep an exact comparison honest:

* ``EXACT_DTYPE``: run both sides in float64. Rounding then moves logits by ~1e-16, far below
  any margin the model has, so equal tokens prove the batching logic (padding, positions,
  masks, cache bookkeeping, per-row sampling) changed nothing; float32 differences are not
  tested by it.
* :func:`tie_free_length`: compare a reference decoded elsewhere (another engine, a server)
  only up to the first token whose top-2 logit margin, in the reference's own model, falls
  below ``TIE_MARGIN``; past a near-tie another kernel may rightly pick the other token.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

EXACT_DTYPE = "float64"
TIE_MARGIN = 1e-4


@torch.no_grad()
def greedy_margins(model, prompt_ids: Sequence[int], token_ids: Sequence[int]) -> list[float]:
    """Top-1 minus top-2 logit at each of ``token_ids``' positions (one forward, no batching)."""
    ids = torch.tensor([list(prompt_ids) + list(token_ids)], device=model.device)
    logits = model(input_ids=ids).logits[0, len(prompt_ids) - 1 : -1].double()
    top = logits.topk(2, dim=-1).values
    return (top[:, 0] - top[:, 1]).tolist()


def tie_free_length(model, prompt_ids: Sequence[int], token_ids: Sequence[int], margin: float = TIE_MARGIN) -> int:
    """How many leading greedy ``token_ids`` any correct decoder must reproduce: up to (not
    including) the first whose margin is below ``margin``."""
    for i, m in enumerate(greedy_margins(model, prompt_ids, token_ids)):
        if m < margin:
            return i
    return len(token_ids)
