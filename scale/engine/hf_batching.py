"""One padded ``generate`` call over a batch of compatible requests.

Rows carry their own token budget and stop strings; a per-row stopping criterion ends
each row independently, so one batch serves mixed budgets without over-generating the
short ones' answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from transformers import (
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)

from scale.engine.hf_sampling import row_seed, sample_rows
from scale.engine.types import SamplingParams

_TAIL_TOKENS = 16  # decoded tail searched for stop strings


@dataclass
class Row:
    """One request's share of a batch.

    ``seed`` drives the row's draws (see :mod:`scale.engine.hf_sampling`); a sampled row
    without one gets a random seed here, once, so a restarted row redraws its tokens.
    """

    prompt_ids: list[int]
    max_new_tokens: int
    stop: tuple[str, ...] = ()
    sampling: SamplingParams | None = None  # None = greedy
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.seed is None:
            self.seed = row_seed(self.sampling)


class _PerRowSampler(LogitsProcessor):
    """Samples each row with its own settings and seed (see ``sample_rows``).

    ``generate`` then runs greedy over a one-hot score row, so requests with different
    sampling settings and seeds share one batch, and a seeded row draws the same tokens
    whatever else is in the batch (and under every scheduler).
    """

    def __init__(self, rows: list[Row], padded_len: int) -> None:
        self.rows = rows
        self.padded_len = padded_len

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        n_new = input_ids.shape[1] - self.padded_len
        tokens = sample_rows(scores, [r.sampling for r in self.rows], [r.seed for r in self.rows],
                             [len(r.prompt_ids) + n_new for r in self.rows])
        onehot = torch.full_like(scores, float("-inf"))
        onehot.scatter_(1, torch.tensor(tokens, device=scores.device).unsqueeze(1), 0.0)
        return onehot


@dataclass
class RowResult:
    token_ids: list[int]  # generated tokens kept (up to eos / stop / budget)
    finish_reason: str  # "stop" | "length"
    stop_string: str | None = None
    eos: bool = False
    extra: dict = field(default_factory=dict)


def check_finished(row: Row, tokens: list[int], eos: set[int], tokenizer) -> RowResult | None:
    """The row's result if ``tokens`` end it, else None. Every scheduler decides here.

    In order: an end-of-turn token, a stop string completed by the last token (also on
    the last budgeted token: that is a stop, not the budget), the budget.
    """
    if tokens and tokens[-1] in eos:
        return RowResult(list(tokens), "stop", eos=True)
    if row.stop:
        # The tail is cheap to decode every step; the whole text only once a stop is there.
        tail = tokenizer.decode(tokens[-_TAIL_TOKENS:])
        hits = tuple(s for s in row.stop if s in tail)
        if hits:
            hit = earliest_stop(tokenizer.decode(tokens), hits) or hits[0]
            return RowResult(list(tokens), "stop", stop_string=hit)
    if len(tokens) >= row.max_new_tokens:
        return RowResult(list(tokens), "length")
    return None


def first_finish(row: Row, tokens: list[int], eos: set[int], tokenizer, start: int = 1) -> RowResult | None:
    """``check_finished`` on each prefix ``tokens[:n]``, n >= ``start``: the first that ends the row."""
    for n in range(max(start, 1), len(tokens) + 1):
        res = check_finished(row, tokens if n == len(tokens) else tokens[:n], eos, tokenizer)
        if res is not None:
            return res
    return None


class _PerRowStop(StoppingCriteria):
    """Ends each row at its own end-of-turn token, stop string or budget (``check_finished``).

    Rows that ended are padded by ``generate`` until the batch is done; the results come
    from here, so padding is never read as a token.
    """

    def __init__(self, rows: list[Row], eos: set[int], tokenizer):
        self.rows = rows
        self.eos = eos
        self.tokenizer = tokenizer
        self.tokens: list[list[int]] = [[] for _ in rows]
        self.results: list[RowResult | None] = [None] * len(rows)

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        last = input_ids[:, -1].tolist()  # one copy per step
        for i, row in enumerate(self.rows):
            if self.results[i] is None:
                self.tokens[i].append(last[i])
                self.results[i] = check_finished(row, self.tokens[i], self.eos, self.tokenizer)
        return torch.tensor([r is not None for r in self.results], device=input_ids.device)


def generate_rows(model, tokenizer, rows: list[Row]) -> list[RowResult]:
    """Left-pad ``rows``, run one ``generate``; each row ends at its own eos / stop / budget."""
    pad_id = tokenizer.pad_token_id
    eos = eos_ids(model, tokenizer)
    prompt_len = max(len(r.prompt_ids) for r in rows)
    input_ids = torch.full((len(rows), prompt_len), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), prompt_len), dtype=torch.long)
    for i, row in enumerate(rows):
        n = len(row.prompt_ids)
        input_ids[i, prompt_len - n:] = torch.tensor(row.prompt_ids, dtype=torch.long)
        attention[i, prompt_len - n:] = 1
    device = model.device
    criterion = _PerRowStop(rows, set(eos), tokenizer)
    gen_kwargs = dict(
        max_new_tokens=max(r.max_new_tokens for r in rows),
        # Sampling happens per row in _PerRowSampler; generate itself is greedy. The
        # model's generation_config sampling defaults are neutralised.
        do_sample=False, temperature=None, top_p=None, top_k=None,
        pad_token_id=pad_id,
        eos_token_id=eos,
        stopping_criteria=StoppingCriteriaList([criterion]),
    )
    if any(r.seed is not None for r in rows):
        gen_kwargs["logits_processor"] = LogitsProcessorList([_PerRowSampler(rows, prompt_len)])
    with torch.inference_mode():
        out = model.generate(input_ids=input_ids.to(device), attention_mask=attention.to(device),
                             **gen_kwargs)
    new = out[:, prompt_len:].tolist()
    results = []
    for i, row in enumerate(rows):
        # generate may stop before the criterion saw a row's last token (all rows at eos).
        res = criterion.results[i] or first_finish(row, new[i], set(eos), tokenizer) or RowResult(new[i], "length")
        results.append(res)
    return results


def eos_ids(model, tokenizer) -> list[int]:
    ids = model.generation_config.eos_token_id
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids


def earliest_stop(text: str, stops: tuple[str, ...]) -> str | None:
    """The stop string that occurs first in ``text`` (None if none does)."""
    return min((s for s in stops if s in text), key=text.find, default=None)
