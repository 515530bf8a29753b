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


_CANDIDATES = 1024  # top-p without top-k: the nucleus is looked for among this many first


def sample_rows(logits: torch.Tensor, sampling: list[SamplingParams | None],
                generators: list[torch.Generator | None]) -> list[int]:
    """Next token per row: greedy rows take the argmax, sampled rows their own seeded draw.

    Order as in transformers: temperature, then top-k, then top-p (over the top-k
    distribution). The draw is inverse-CDF on one uniform from the row's generator, and
    which path a row takes depends only on its own settings and logits, so a row's token
    never depends on its neighbours. Full-vocabulary work is kept to one pass per row
    (vocabularies are 50k-150k wide); no full sort unless a row's nucleus is wider than
    ``_CANDIDATES`` tokens.
    """
    n, vocab = logits.shape
    out = [0] * n
    greedy = [i for i in range(n) if generators[i] is None]
    if greedy:
        picked = (logits if len(greedy) == n else logits[greedy]).argmax(dim=-1).tolist()
        for i, t in zip(greedy, picked):
            out[i] = t
    groups: dict[str, list[int]] = {"plain": [], "top_k": [], "top_p": []}
    for i in range(n):
        p = sampling[i]
        if generators[i] is None or p is None:
            continue
        groups["top_k" if 0 < p.top_k < vocab else "top_p" if p.top_p < 1.0 else "plain"].append(i)
    for kind, rows in groups.items():
        if not rows:
            continue
        params = [sampling[i] for i in rows]
        u = torch.stack([torch.rand((), generator=generators[i]) for i in rows]).to(logits.device)
        temp = torch.tensor([p.temperature for p in params], device=logits.device).unsqueeze(1)
        sub = logits[rows].float()
        if kind == "plain":  # temperature only: the whole vocabulary, in vocabulary order
            picks = _draw(torch.softmax(sub / temp, dim=-1), u)
        elif kind == "top_k":  # temperature is monotonic: take the top-k first, scale k values
            vals, ids = torch.topk(sub, max(p.top_k for p in params), dim=-1)
            rank = torch.arange(vals.shape[-1], device=logits.device).unsqueeze(0)
            ks = torch.tensor([p.top_k for p in params], device=logits.device).unsqueeze(1)
            vals = (vals / temp).masked_fill(rank >= ks, float("-inf"))
            picks = _nucleus(vals, ids, torch.logsumexp(vals, dim=-1), params, u)
        else:  # top-p alone: mass relative to the whole vocabulary
            scaled = sub / temp
            vals, ids = torch.topk(scaled, min(_CANDIDATES, vocab), dim=-1)
            picks = _nucleus(vals, ids, torch.logsumexp(scaled, dim=-1), params, u, scaled)
        for i, t in zip(rows, picks.tolist()):
            out[i] = t
    return out


def _draw(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse CDF: the first token whose cumulative mass reaches u (rows of ``probs``)."""
    cdf = probs.cumsum(dim=-1)
    return torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(1)).squeeze(1).clamp_(max=probs.shape[-1] - 1)


def _nucleus(vals: torch.Tensor, ids: torch.Tensor, norm: torch.Tensor, params: list[SamplingParams],
             u: torch.Tensor, full: torch.Tensor | None = None) -> torch.Tensor:
    """Draw among sorted candidates ``vals``/``ids`` the smallest prefix reaching top_p.

    ``norm`` is the log of the mass the candidates are measured against. With ``full``
    (the whole scaled row), a row whose candidates hold less than top_p is sorted in full.
    """
    probs = torch.exp(vals - norm.unsqueeze(1))
    cum = probs.cumsum(dim=-1)
    top_p = torch.tensor([p.top_p for p in params], device=vals.device).unsqueeze(1)
    # Keep the smallest prefix whose mass reaches top_p (the first token always stays).
    kept = vals.masked_fill(cum - probs > top_p, float("-inf"))
    picks = ids.gather(1, _draw(torch.softmax(kept, dim=-1), u).unsqueeze(1)).squeeze(1)
    if full is not None:
        for j, p in enumerate(params):
            if float(cum[j, -1]) < p.top_p and vals.shape[-1] < full.shape[-1]:
                row_vals, row_ids = torch.sort(full[j:j + 1], dim=-1, descending=True)
                picks[j] = _nucleus(row_vals, row_ids, norm[j:j + 1], [p], u[j:j + 1])[0]
    return picks
