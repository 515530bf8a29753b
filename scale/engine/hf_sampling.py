"""Per-row sampling for batched decoding: on the device, one host copy per step.

Every row keeps its own settings (temperature, top-k, top-p; temperature 0 = greedy).
The uniform number behind a sampled row's draw is a counter-based hash of the row's
seed and the position of the token being drawn (:func:`uniform`), not the state of a
random generator. So a seeded row draws the same uniform numbers alone, in any batch, after a
pre-emption restart and under every scheduler (iteration, static and continuous share
:func:`sample_tokens`), and nothing random is carried between steps. The tokens repeat only
where the logits do: another batch make-up can round a near-tie the other way in float32
(docs/determinism.md).

Order as in transformers: temperature, then top-k, then top-p over the top-k
distribution. Sampled rows draw by inverse CDF: over the whole vocabulary in vocabulary
order when neither top-k nor top-p cuts it, otherwise over the most likely
``candidates`` tokens in descending order. A row whose top-p nucleus is wider than the
candidates (a flat distribution, no top-k) is redrawn from a full sort; the check rides
on the step's one device-to-host copy, so only such a rare step pays a second one.
"""

from __future__ import annotations

import random

import torch

from scale.engine.types import SamplingParams

CANDIDATES = 1024  # tokens looked at first by a top-k / top-p row (each row's nucleus usually fits)
_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _mix64(x: int) -> int:
    """splitmix64's finaliser: a bijective 64-bit mix with good avalanche."""
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & _MASK64
    x = (x ^ (x >> 27)) * 0x94D049BB133111EB & _MASK64
    return x ^ (x >> 31)


def uniform(seed: int, position: int) -> float:
    """The row's uniform number in [0, 1) for the token at ``position`` (24 bits, exact in float32)."""
    return (_mix64((seed * _GOLDEN + position) & _MASK64) >> 40) / float(1 << 24)


def derive_seed(seed: int, phase: int) -> int:
    """A distinct seed for phase ``phase`` of one request (budget forcing: thought 0, answer 1)."""
    return seed if phase == 0 else _mix64((seed ^ (phase * _GOLDEN)) & _MASK64) >> 1


def row_seed(p: SamplingParams | None) -> int | None:
    """The row's seed: None for greedy rows; unseeded sampled rows get a random one."""
    if p is None or p.greedy:
        return None
    return p.seed if p.seed is not None else random.getrandbits(63)


def sampling_table(params: list[SamplingParams | None], seeds: list[int | None], positions: list[int],
                   vocab: int) -> torch.Tensor:
    """Host ``[rows, 4]`` float32: temperature (0 = greedy), top-k (vocab = off), top-p, uniform draw."""
    rows = []
    for p, seed, pos in zip(params, seeds, positions):
        if p is None or p.greedy or seed is None:
            rows.append((0.0, float(vocab), 1.0, 0.0))
        else:
            k = p.top_k if 0 < p.top_k < vocab else vocab
            rows.append((p.temperature, float(k), p.top_p, uniform(seed, pos)))
    return torch.tensor(rows, dtype=torch.float32)


def sample_rows(logits: torch.Tensor, params: list[SamplingParams | None], seeds: list[int | None],
                positions: list[int]) -> list[int]:
    """Next token per row (the one device-to-host copy of the step). ``positions``: the
    position of the token each row draws (its prompt length + tokens generated so far)."""
    n, vocab = logits.shape
    sampled = [i for i in range(n) if seeds[i] is not None and params[i] is not None and not params[i].greedy]
    if not sampled:
        return logits.argmax(dim=-1).tolist()
    table = sampling_table([params[i] for i in sampled], [seeds[i] for i in sampled],
                           [positions[i] for i in sampled], vocab)
    device = logits.device
    sub = logits if len(sampled) == n else logits[torch.tensor(sampled, device=device)]
    ks, ps = table[:, 1].tolist(), table[:, 2].tolist()
    plain = [k >= vocab and p >= 1.0 for k, p in zip(ks, ps)]
    cut = [k for k, flat in zip(ks, plain) if not flat]
    # Rows that all have top-k need only their largest k; top-p alone looks at CANDIDATES first.
    width = int(min(vocab, max(cut) if cut and max(cut) < vocab else max([CANDIDATES, *(k for k in cut if k < vocab)])))
    picks, covered = sample_tokens(sub, table.to(device), width, plain_rows=any(plain),
                                   candidate_rows=not all(plain), full_norm=any(k >= vocab for k in ks))
    tokens = logits.argmax(dim=-1) if len(sampled) < n else picks
    if len(sampled) < n:
        tokens[torch.tensor(sampled, device=device)] = picks
    flat = torch.cat([tokens, covered.long()]).tolist()
    out, ok = flat[:n], flat[n:]
    wide = [j for j, c in enumerate(ok) if not c]
    if wide:  # a nucleus wider than the candidates: the full sort, for those rows only
        again, _ = sample_tokens(sub[torch.tensor(wide, device=device)], table[wide].to(device), vocab)
        for j, t in zip(wide, again.tolist()):
            out[sampled[j]] = t
    return out


def sample_tokens(logits: torch.Tensor, table: torch.Tensor, candidates: int, plain_rows: bool = True,
                  candidate_rows: bool = True, full_norm: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens for rows of ``logits`` with settings ``table`` (see :func:`sampling_table`), on the device.

    Shapes depend only on ``logits`` and ``candidates`` (no host sync, CUDA-graph safe).
    Returns the tokens and, per row, whether its nucleus fitted in the candidates (a
    False row needs ``candidates = vocab`` to be exact). The flags skip work the host
    knows is not needed: ``plain_rows`` (any row cut by neither top-k nor top-p),
    ``candidate_rows`` (any other sampled row), ``full_norm`` (any of those without top-k).
    """
    n, vocab = logits.shape
    temp, top_k, top_p, u = table.unbind(dim=1)
    greedy = temp == 0
    scaled = logits.float() / torch.where(greedy, 1.0, temp).unsqueeze(1)
    plain = ~greedy & (top_k >= vocab) & (top_p >= 1.0)
    picks = logits.argmax(dim=-1)
    covered = torch.ones(n, dtype=torch.bool, device=logits.device)
    if plain_rows:  # the whole vocabulary, in vocabulary order
        picks = torch.where(plain, _inverse_cdf(torch.softmax(scaled, dim=-1), u), picks)
    if candidate_rows:  # the most likely `candidates` tokens, in descending order
        vals, ids = torch.topk(scaled, candidates, dim=-1)
        rank = torch.arange(candidates, device=logits.device).unsqueeze(0)
        has_k = top_k < vocab
        vals = vals.masked_fill(rank >= top_k.unsqueeze(1), float("-inf"))
        # top-p mass is relative to the top-k distribution, or to the whole vocabulary without top-k.
        norm = torch.logsumexp(vals, dim=-1)
        if full_norm:
            norm = torch.where(has_k, norm, torch.logsumexp(scaled, dim=-1))
        probs = torch.exp(vals - norm.unsqueeze(1))
        cum = probs.cumsum(dim=-1)
        # Keep the smallest prefix whose mass reaches top_p (the first token always stays).
        kept = vals.masked_fill(cum - probs > top_p.unsqueeze(1), float("-inf"))
        pick = ids.gather(1, _inverse_cdf(torch.softmax(kept, dim=-1), u).unsqueeze(1)).squeeze(1)
        sampled = ~greedy & ~plain
        picks = torch.where(sampled, pick, picks)
        if candidates < vocab:
            covered = ~sampled | has_k | (cum[:, -1] >= top_p)
    return picks, covered


def _inverse_cdf(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Per row, the first token whose cumulative mass exceeds ``u`` times the total.

    Searching for the first cdf value *above* the target skips zero-probability tokens,
    also for a draw of exactly 0, and the target stays below the total mass, so the
    last positive token is the furthest a draw can reach.
    """
    cdf = probs.cumsum(dim=-1)
    total = cdf[:, -1:]
    target = torch.minimum(u.unsqueeze(1) * total, torch.nextafter(total, torch.zeros_like(total)))
    return torch.searchsorted(cdf, target, right=True).squeeze(1).clamp_(max=probs.shape[-1] - 1)
