"""Per-row sampling for batched decoding.

Temperature, top-k and top-p are applied to every sampled row at once; only the final
uniform draw comes from each row's own seeded generator, so a seeded row draws the same
tokens alone or in any batch, and mixed sampling settings share one forward pass.
"""

from __future__ import annotations

import torch

from scale.engine.types import SamplingParams


def seeded_generator(p: SamplingParams | None) -> torch.Generator | None:
    """The row's own RNG (None for greedy rows); unseeded rows get a random seed."""
    if p is None or p.greedy:
        return None
    g = torch.Generator(device="cpu")  # draws are tiny; CPU generators behave the same on every device
    g.manual_seed(p.seed if p.seed is not None else int(torch.randint(0, 2**31 - 1, (1,))))
    return g


def sample_rows(logits: torch.Tensor, sampling: list[SamplingParams | None],
                generators: list[torch.Generator | None]) -> list[int]:
    """Next token per row: greedy rows take the argmax, sampled rows their own seeded draw.

    Temperature, top-k and top-p are applied to all sampled rows at once; the draw is
    inverse-CDF on one uniform from the row's generator, so a row's token depends only on
    its own logits and generator, never on its neighbours.
    """
    logits = logits.float()
    out = logits.argmax(dim=-1)
    idx = [i for i, g in enumerate(generators) if g is not None]
    if idx:
        params = [sampling[i] for i in idx]
        sel = torch.tensor(idx, device=logits.device)
        temp = torch.tensor([p.temperature for p in params], device=logits.device).unsqueeze(1)
        scaled = logits.index_select(0, sel) / temp
        vocab = scaled.shape[-1]
        ks = [p.top_k if 0 < p.top_k < vocab else vocab for p in params]
        k = max(ks)
        if k < vocab:
            vals, ids = torch.topk(scaled, k, dim=-1)
        else:
            vals, ids = torch.sort(scaled, dim=-1, descending=True)
        rank = torch.arange(k, device=logits.device).unsqueeze(0)
        vals = vals.masked_fill(rank >= torch.tensor(ks, device=logits.device).unsqueeze(1), float("-inf"))
        top_p = torch.tensor([p.top_p for p in params], device=logits.device).unsqueeze(1)
        probs = torch.softmax(vals, dim=-1)
        # Keep the smallest prefix whose mass reaches top_p (the first token always stays).
        vals = vals.masked_fill(probs.cumsum(-1) - probs > top_p, float("-inf"))
        cdf = torch.softmax(vals, dim=-1).cumsum(-1)
        u = torch.stack([torch.rand((), generator=generators[i]) for i in idx]).to(logits.device)
        pick = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(1)).clamp_(max=k - 1)
        out[sel] = ids.gather(1, pick).squeeze(1)
    return out.tolist()
