"""Iteration-level scheduling over one KV cache that rows join and leave.

A padded ``generate`` runs every row until the longest is done, and a request that
arrives meanwhile waits for the whole batch. :class:`DecodeBatch` instead runs one
decode step at a time: finished rows leave after the step that finished them, and new
requests join before the next step (their prompts are prefilled together, then their
KV cache is left-padded into the running one). Decoding stays exact: every row sees only
its own tokens through the attention mask and counts its own positions.

Two things keep it cheap: the cache grows in place (transformers' ``DynamicCache``
concatenates, copying the whole cache every step), and prompts that start like a
recently prefilled one reuse its keys/values (:mod:`scale.engine.hf_prefix`), so only
the new part is prefilled; newcomers that share a long prefix with each other get it
prefilled once first.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from scale.engine.hf_batching import Row, RowResult, earliest_stop, eos_ids
from scale.engine.hf_prefix import KV, PrefixCache, common_prefix
from scale.engine.hf_sampling import sample_rows, seeded_generator
from scale.errors import ConfigError

_TAIL_TOKENS = 16  # decoded tail searched for stop strings


class _GrowLayer(DynamicLayer):
    """A full-attention cache layer that appends in place into spare capacity."""

    def __init__(self) -> None:
        super().__init__()
        self._k: torch.Tensor | None = None
        self._v: torch.Tensor | None = None
        self._n = 0

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        need = self._n + key_states.shape[-2]
        if self._k is None or need > self._k.shape[-2]:
            self._reserve(key_states, need)
        self._k[:, :, self._n:need] = key_states
        self._v[:, :, self._n:need] = value_states
        self._n = need
        self.keys, self.values = self._k[:, :, :need], self._v[:, :, :need]
        return self.keys, self.values

    def assign(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Replace the contents (rows joined or left); keeps spare room for the next steps."""
        if not self.is_initialized:
            self.lazy_initialization(keys, values)
        self._k = self._v = None
        self._n = 0
        self._reserve(keys, keys.shape[-2])
        self.update(keys, values)

    def _reserve(self, like: torch.Tensor, need: int) -> None:
        capacity = max(need + 64, need * 5 // 4)
        shape = (like.shape[0], like.shape[1], capacity, like.shape[3])
        k, v = like.new_empty(shape), like.new_empty(shape)
        if self._n:
            k[:, :, :self._n] = self._k[:, :, :self._n]
            v[:, :, :self._n] = self._v[:, :, :self._n]
        self._k, self._v = k, v


@dataclass
class _Slot:
    row: Row
    ticket: Any  # opaque to this module: handed back with the result
    generator: torch.Generator | None
    tokens: list[int]  # generated so far; the last one is not yet in the cache

    @property
    def length(self) -> int:
        """Real tokens of this row in the KV cache: the position of its next input."""
        return len(self.row.prompt_ids) + len(self.tokens) - 1


@dataclass
class PrefillStats:
    prompt_tokens: int = 0  # prompt tokens of admitted rows
    computed_tokens: int = 0  # prompt tokens run through the model (shared prefixes included)
    shared_prefills: int = 0  # prefixes shared by newcomers, prefilled once ahead of them
    seconds: float = 0.0


class DecodeBatch:
    """Rows decoding together over one growing KV cache; rows join and leave between steps."""

    def __init__(self, model, tokenizer, prefix_cache_tokens: int = 0, min_prefix_tokens: int = 32) -> None:
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
        self.prefixes = PrefixCache(prefix_cache_tokens, min_prefix_tokens)
        self.stats = PrefillStats()

    def __len__(self) -> int:
        return len(self.slots)

    # -- joining ----------------------------------------------------------------------
    def admit(self, rows: list[Row], tickets: list[Any]) -> list[tuple[Any, RowResult]]:
        """Prefill ``rows`` together, draw their first token and merge them into the batch.

        Returns the rows already finished by that first token (budget 1, eos, stop).
        """
        if not rows:
            return []
        prompts = [list(r.prompt_ids) for r in rows]
        if self.prefixes.max_tokens > 0:
            self._prefill_shared(prompts)
        cache, mask, logits = self._prefill(prompts)
        self.stats.prompt_tokens += sum(len(p) for p in prompts)
        slots = [_Slot(r, t, seeded_generator(r.sampling), []) for r, t in zip(rows, tickets)]
        first = sample_rows(logits, [r.sampling for r in rows], [s.generator for s in slots])
        self._merge(cache, mask, slots)
        return self._advance(first, offset=len(self.slots) - len(slots))

    def _prefill_shared(self, prompts: list[list[int]]) -> None:
        """Prefill once, and store, the long prefixes that newcomers share with each other."""
        order = sorted(prompts)
        shared: list[list[int]] = []
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and common_prefix(order[i], order[j + 1]) >= self.prefixes.min_tokens:
                j += 1
            if j > i:
                n = min(common_prefix(order[i], order[j]), min(len(p) for p in order[i:j + 1]) - 1)
                prefix = order[i][:n]
                _, known = self.prefixes.match([*prefix, -1])  # -1: match all of it
                if n - known >= self.prefixes.min_tokens:
                    shared.append(prefix)
            i = j + 1
        if shared:
            self.stats.shared_prefills += len(shared)
            self._prefill(shared)

    def _prefill(self, prompts: list[list[int]]) -> tuple[DynamicCache, torch.Tensor, torch.Tensor]:
        """Run the prompts (reusing stored prefixes); returns their cache, mask and last logits.

        With stored prefixes, row i runs as ``[pad | stored prefix | pad | new tokens]``:
        prefixes right-aligned at column P, new tokens at the end; the mask hides the pads
        and positions count only real tokens, so the holes change nothing. The cache is then
        compacted to the plain left-padded layout, so later steps pay no attention to holes.
        """
        start = time.perf_counter()
        found = [self.prefixes.match(p) for p in prompts]
        reused = [self.prefixes.take(key, n) if key is not None else None for key, n in found]
        lengths = [n for _, n in found]
        past, width = max(lengths), max(len(p) - n for p, n in zip(prompts, lengths))
        rows = len(prompts)
        ids = torch.full((rows, width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((rows, past + width), dtype=torch.long)
        positions = torch.zeros((rows, width), dtype=torch.long)
        for i, (p, n) in enumerate(zip(prompts, lengths)):
            new = p[n:]
            ids[i, width - len(new):] = torch.tensor(new, dtype=torch.long)
            mask[i, past - n:past] = 1
            mask[i, past + width - len(new):] = 1
            positions[i, width - len(new):] = torch.arange(n, len(p))
        ids, mask, positions = ids.to(self.device), mask.to(self.device), positions.to(self.device)
        cache = self._new_cache()
        if past:
            self._seed_cache(cache, reused, past)
        logits = self._forward(ids, mask, positions, cache)
        _check_layers(cache)
        if past:
            mask = self._compact(cache, mask)
        self.stats.computed_tokens += sum(len(p) - n for p, n in zip(prompts, lengths))
        if self.prefixes.max_tokens > 0:
            for i, p in enumerate(prompts):
                self.prefixes.add(p, [(layer.keys[i:i + 1, :, -len(p):], layer.values[i:i + 1, :, -len(p):])
                                      for layer in cache.layers])
        self.stats.seconds += time.perf_counter() - start
        return cache, mask, logits

    def _seed_cache(self, cache: DynamicCache, reused: list[KV | None], past: int) -> None:
        """Fill the first ``past`` columns with each row's stored prefix, right-aligned."""
        template = next(kv for kv in reused if kv is not None)
        for li, layer in enumerate(cache.layers):
            k0 = template[li][0]
            keys = k0.new_zeros((len(reused), k0.shape[1], past, k0.shape[3]))
            values = torch.zeros_like(keys)
            for i, kv in enumerate(reused):
                if kv is not None:
                    n = kv[li][0].shape[-2]
                    keys[i, :, past - n:] = kv[li][0][0]
                    values[i, :, past - n:] = kv[li][1][0]
            layer.assign(keys, values)

    def _compact(self, cache: DynamicCache, mask: torch.Tensor) -> torch.Tensor:
        """Move each row's real columns to the right end (one gather per layer); returns the new mask."""
        real = mask.bool()
        counts = real.sum(dim=1)
        width = int(counts.max())
        # Real columns first in order; pads (mask 0) sort after them, then flip to right-align.
        order = torch.sort((~real).long() * mask.shape[1] + torch.arange(mask.shape[1], device=mask.device),
                           dim=1).indices[:, :width]
        shift = width - counts  # row i's real columns go to [shift_i, width)
        slot = (torch.arange(width, device=mask.device).unsqueeze(0) - shift.unsqueeze(1)).clamp(min=0)
        index = order.gather(1, slot)
        new_mask = (torch.arange(width, device=mask.device).unsqueeze(0) >= shift.unsqueeze(1)).long()
        for layer in cache.layers:
            k = layer.keys
            idx = index[:, None, :, None].expand(k.shape[0], k.shape[1], width, k.shape[3])
            layer.assign(k.gather(2, idx), layer.values.gather(2, idx))
        return new_mask

    def _new_cache(self) -> DynamicCache:
        cache = DynamicCache(config=self.model.config)
        if all(type(layer) is DynamicLayer for layer in cache.layers):
            cache.layers = [_GrowLayer() for _ in cache.layers]
        return cache

    def _merge(self, cache: DynamicCache, mask: torch.Tensor, slots: list[_Slot]) -> None:
        if self.cache is None or not self.slots:
            self.cache, self.mask, self.slots = cache, mask, slots
            return
        old_len, new_len = self.mask.shape[1], mask.shape[1]
        width = max(old_len, new_len)
        for old, new in zip(self.cache.layers, cache.layers):
            old.assign(torch.cat([_pad_left(old.keys, width), _pad_left(new.keys, width)], dim=0),
                       torch.cat([_pad_left(old.values, width), _pad_left(new.values, width)], dim=0))
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
        # The tail is cheap to decode every step; the whole text only once a stop is there.
        tail = self.tokenizer.decode(toks[-_TAIL_TOKENS:]) if row.stop else ""
        hits = tuple(s for s in row.stop if s in tail)
        if hits:
            hit = earliest_stop(self.tokenizer.decode(toks), hits) or hits[0]
            return RowResult(list(toks), "stop", stop_string=hit)
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
            layer.assign(layer.keys.index_select(0, index)[:, :, start:],
                         layer.values.index_select(0, index)[:, :, start:])


def _pad_left(t: torch.Tensor, width: int) -> torch.Tensor:
    return F.pad(t, (0, 0, width - t.shape[-2], 0)) if t.shape[-2] < width else t


def _check_layers(cache: DynamicCache) -> None:
    kinds = {type(layer).__name__ for layer in cache.layers if type(layer) not in (DynamicLayer, _GrowLayer)}
    if kinds:
        raise ConfigError(
            f"engine.scheduler=iteration needs full-attention KV caches; this model uses {sorted(kinds)}. "
            "Use engine.scheduler=static."
        )
