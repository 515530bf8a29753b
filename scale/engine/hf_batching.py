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

from scale.engine.hf_sampling import sample_rows, seeded_generator
from scale.engine.types import SamplingParams


@dataclass
class Row:
    """One request's share of a batch."""

    prompt_ids: list[int]
    max_new_tokens: int
    stop: tuple[str, ...] = ()
    sampling: SamplingParams | None = None  # None = greedy


class _PerRowSampler(LogitsProcessor):
    """Samples each row with its own settings and seeded generator (see ``sample_rows``).

    ``generate`` then runs greedy over a one-hot score row, so requests with different
    sampling settings and seeds share one batch, and a seeded row draws the same tokens
    whatever else is in the batch.
    """

    def __init__(self, rows: list[Row]) -> None:
        self.sampling = [r.sampling for r in rows]
        self.generators = [seeded_generator(p) for p in self.sampling]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        tokens = torch.tensor(sample_rows(scores, self.sampling, self.generators), device=scores.device)
        onehot = torch.full_like(scores, float("-inf"))
        onehot.scatter_(1, tokens.unsqueeze(1), 0.0)
        return onehot


@dataclass
class RowResult:
    token_ids: list[int]  # generated tokens kept (up to eos / stop / budget)
    finish_reason: str  # "stop" | "length"
    stop_string: str | None = None
    eos: bool = False
    extra: dict = field(default_factory=dict)


class _PerRowStop(StoppingCriteria):
    """Marks a row done at its own budget or when its decoded tail holds a stop string."""

    def __init__(self, rows: list[Row], prompt_len: int, tokenizer, tail_tokens: int = 16):
        self.rows = rows
        self.prompt_len = prompt_len
        self.tokenizer = tokenizer
        self.tail_tokens = tail_tokens
        self.stopped_at: list[int | None] = [None] * len(rows)

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        n_new = input_ids.shape[1] - self.prompt_len
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for i, row in enumerate(self.rows):
            if self.stopped_at[i] is not None:
                done[i] = True
                continue
            if n_new >= row.max_new_tokens:
                self.stopped_at[i] = row.max_new_tokens
                done[i] = True
            elif row.stop:
                tail = self.tokenizer.decode(input_ids[i, -min(n_new, self.tail_tokens):])
                if any(s in tail for s in row.stop):
                    self.stopped_at[i] = n_new
                    done[i] = True
        return done


def generate_rows(model, tokenizer, rows: list[Row]) -> list[RowResult]:
    """Left-pad ``rows``, run one ``generate``, and cut each row at eos / stop / budget."""
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
    criterion = _PerRowStop(rows, prompt_len, tokenizer)
    gen_kwargs = dict(
        max_new_tokens=max(r.max_new_tokens for r in rows),
        # Sampling happens per row in _PerRowSampler; generate itself is greedy. The
        # model's generation_config sampling defaults are neutralised.
        do_sample=False, temperature=None, top_p=None, top_k=None,
        pad_token_id=pad_id,
        eos_token_id=eos,
        stopping_criteria=StoppingCriteriaList([criterion]),
    )
    if any(r.sampling is not None and not r.sampling.greedy for r in rows):
        gen_kwargs["logits_processor"] = LogitsProcessorList([_PerRowSampler(rows)])
    with torch.inference_mode():
        out = model.generate(input_ids=input_ids.to(device), attention_mask=attention.to(device),
                             **gen_kwargs)
    new = out[:, prompt_len:].tolist()
    results = []
    for i, row in enumerate(rows):
        results.append(_cut(new[i], row, criterion.stopped_at[i], eos, tokenizer))
    return results


def eos_ids(model, tokenizer) -> list[int]:
    ids = model.generation_config.eos_token_id
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids


def _cut(tokens: list[int], row: Row, stopped_at: int | None, eos_ids: list[int], tokenizer) -> RowResult:
    limit = min(len(tokens), row.max_new_tokens)
    for j in range(limit):
        if tokens[j] in eos_ids:
            return RowResult(tokens[: j + 1], "stop", eos=True)
    if stopped_at is not None and stopped_at < row.max_new_tokens:
        kept = tokens[:stopped_at]
        text = tokenizer.decode(kept)
        hit = earliest_stop(text, row.stop)
        return RowResult(kept, "stop", stop_string=hit)
    return RowResult(tokens[:limit], "length")


def earliest_stop(text: str, stops: tuple[str, ...]) -> str | None:
    """The stop string that occurs first in ``text`` (None if none does)."""
    return min((s for s in stops if s in text), key=text.find, default=None)
