"""Iteration-level scheduling over one dynamic KV cache.

A padded ``generate`` runs every row until the longest is done, and a request that
arrives meanwhile waits for the whole batch. :class:`DecodeBatch` instead runs one
decode step at a time: finished rows leave after the step that finished them, and new
requests join before the next step (their prompts are prefilled together, then their
KV cache is left-padded into the running one). Decoding stays exact: every row sees only
its own tokens through the attention mask and counts its own positions.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from scale.engine.hf_batching import Row, RowResult, eos_ids
from scale.engine.hf_sampling import sample_rows, seeded_generator
from scale.errors import ConfigError

_TAIL_TOKENS = 16  # decoded tail searched for stop strings


@dataclass
class _Slot:
    row: Row
    ticket: Any  # opaque to this module: handed back with the result
    generator: torch.Generator | None
    length: int  # real tokens in the KV cache for this row
    tokens: list[int]  # generated so far; the last one is not yet in the cache


class DecodeBatch:
    """Rows decoding together over one growing KV cache; rows join and leave between steps."""

    def __init__(self, model, tokenizer) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.eos = set(eos_ids(model, tokenizer))
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.device = model.device
        params = inspect.signature(model.forward).parameters
        # transformers 5.x renamed past_key_values to cache; accept either.
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self.slots: list[_Slot] = []
        self.cache: DynamicCache | None = None
        self.mask: torch.Tensor | None = None  # [rows, cache length]: 1 = real token

    def __len__(self) -> int:
        return len(self.slots)

    # -- joining ----------------------------------------------------------------------
    def admit(self, rows: list[Row], tickets: list[Any]) -> list[tuple[Any, RowResult]]:
        """Prefill ``rows`` together, draw their first token and merge them into the batch.

        Returns the rows already finished by that first token (budget 1, eos, stop).
        """
        if not rows:
            return []
        width = max(len(r.prompt_ids) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            n = len(r.prompt_ids)
            ids[i, width - n:] = torch.tensor(r.prompt_ids, dtype=torch.long)
            mask[i, width - n:] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp_(min=0)
        cache = DynamicCache(config=self.model.config)
        logits = self._forward(ids, mask, positions, cache)
        _check_layers(cache)
        slots = [_Slot(r, t, seeded_generator(r.sampling), len(r.prompt_ids), []) for r, t in zip(rows, tickets)]
        first = sample_rows(logits, [r.sampling for r in rows], [s.generator for s in slots])
        self._merge(cache, mask, slots)
        return self._advance(first, offset=len(self.slots) - len(slots))

    def _merge(self, cache: DynamicCache, mask: torch.Tensor, slots: list[_Slot]) -> None:
        if self.cache is None or not self.slots:
            self.cache, self.mask, self.slots = cache, mask, slots
            return
        old_len, new_len = self.mask.shape[1], mask.shape[1]
        width = max(old_len, new_len)
        for old, new in zip(self.cache.layers, cache.layers):
            old.keys = torch.cat([_pad_left(old.keys, width), _pad_left(new.keys, width)], dim=0)
            old.values = torch.cat([_pad_left(old.values, width), _pad_left(new.values, width)], dim=0)
        self.mask = torch.cat([F.pad(self.mask, (width - old_len, 0)), F.pad(mask, (width - new_len, 0))], dim=0)
        self.slots = self.slots + slots

    # -- decoding ---------------------------------------------------------------------
    def step(self) -> list[tuple[Any, RowResult]]:
        """One decode step for every row; returns (ticket, result) of the rows it finished."""
        if not self.slots:
            return []
        ids = torch.tensor([[s.tokens[-1]] for s in self.slots], dtype=torch.long, device=self.device)
        positions = torch.tensor([[s.length] for s in self.slots], dtype=torch.long, device=self.device)
        self.mask = F.pad(self.mask, (0, 1), value=1)
        logits = self._forward(ids, self.mask, positions, self.cache)
        for s in self.slots:
            s.length += 1
        return self._advance(sample_rows(logits, [s.row.sampling for s in self.slots],
                                         [s.generator for s in self.slots]))

    def drop(self, keep) -> list[_Slot]:
        """Remove the rows for which ``keep(slot)`` is false (cancelled callers); returns them."""
        gone = [s for s in self.slots if not keep(s)]
        if gone:
            self._evict({id(s) for s in gone})
        return gone

    def clear(self) -> list[_Slot]:
        gone, self.slots, self.cache, self.mask = self.slots, [], None, None
        return gone

    # -- internals --------------------------------------------------------------------
    def _forward(self, ids, mask, positions, cache) -> torch.Tensor:
        with torch.inference_mode():
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                             use_cache=True, logits_to_keep=1, **{self._cache_kw: cache})
        return out.logits[:, -1, :]

    def _advance(self, tokens: list[int], offset: int = 0) -> list[tuple[Any, RowResult]]:
        """Append each row's new token; finish rows at eos, a stop string or their budget."""
        done: list[tuple[Any, RowResult]] = []
        finished: set[int] = set()
        for slot, tok in zip(self.slots[offset:], tokens):
            slot.tokens.append(tok)
            res = self._finished(slot)
            if res is not None:
                done.append((slot.ticket, res))
                finished.add(id(slot))
        if finished:
            self._evict(finished)
        return done

    def _finished(self, slot: _Slot) -> RowResult | None:
        row, toks = slot.row, slot.tokens
        if toks[-1] in self.eos:
            return RowResult(list(toks), "stop", eos=True)
        if row.stop:
            tail = self.tokenizer.decode(toks[-_TAIL_TOKENS:])
            hits = [s for s in row.stop if s in tail]
            if hits:
                text = self.tokenizer.decode(toks)
                return RowResult(list(toks), "stop", stop_string=min(hits, key=lambda s: _find(text, s)))
        if len(toks) >= row.max_new_tokens:
            return RowResult(list(toks), "length")
        return None

    def _evict(self, gone: set[int]) -> None:
        keep = [i for i, s in enumerate(self.slots) if id(s) not in gone]
        if not keep:
            self.clear()
            return
        self.slots = [self.slots[i] for i in keep]
        index = torch.tensor(keep, device=self.device)
        mask = self.mask.index_select(0, index)
        # Columns that are padding for every remaining row are dead weight: cut them.
        start = int(mask.any(dim=0).long().argmax())
        self.mask = mask[:, start:]
        for layer in self.cache.layers:
            layer.keys = layer.keys.index_select(0, index)[:, :, start:]
            layer.values = layer.values.index_select(0, index)[:, :, start:]


def _pad_left(t: torch.Tensor, width: int) -> torch.Tensor:
    return F.pad(t, (0, 0, width - t.shape[-2], 0)) if t.shape[-2] < width else t


def _find(text: str, s: str) -> int:
    i = text.find(s)
    return i if i >= 0 else len(text)


def _check_layers(cache: DynamicCache) -> None:
    kinds = {type(layer).__name__ for layer in cache.layers if type(layer) is not DynamicLayer}
    if kinds:
        raise ConfigError(
            f"engine.scheduler=iteration needs full-attention KV caches; this model uses {sorted(kinds)}. "
            "Use engine.scheduler=static."
        )
