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

Failures leave the batch in a known state: a failed decode step is rolled back (the
cache lengths and the mask are restored, nothing is allocated), rows that finished are
handed back before their cache rows are freed (:meth:`DecodeBatch.flush`), and a failed
copy of the whole cache clears the batch and lists the rows it held in ``lost``, so the
caller can restart them.
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

from scale.engine.hf_batching import Row, RowResult, check_finished, eos_ids
from scale.engine.hf_layout import CacheLayout, cache_layout
from scale.engine.hf_prefix import KV, PrefixCache, common_prefix
from scale.engine.hf_sampling import sample_rows


class _GrowLayer(DynamicLayer):
    """A full-attention cache layer that appends in place into spare capacity.

    Keys and values may differ in width (multi-head latent attention caches them so).
    """

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
            self._reserve(key_states, value_states, need)
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
        self._reserve(keys, values, keys.shape[-2])
        self.update(keys, values)

    def rollback(self, n: int) -> None:
        """Forget every position from ``n`` on (a decode step that failed half-way)."""
        if self._k is not None and n < self._n:
            self._n = n
            self.keys, self.values = self._k[:, :, :n], self._v[:, :, :n]

    def _reserve(self, keys: torch.Tensor, values: torch.Tensor, need: int) -> None:
        capacity = max(need + 64, need * 5 // 4)
        k = keys.new_empty((*keys.shape[:2], capacity, keys.shape[3]))
        v = values.new_empty((*values.shape[:2], capacity, values.shape[3]))
        if self._n:
            k[:, :, :self._n] = self._k[:, :, :self._n]
            v[:, :, :self._n] = self._v[:, :, :self._n]
        self._k, self._v = k, v


@dataclass
class _Slot:
    row: Row
    ticket: Any  # opaque to this module: handed back with the result
    tokens: list[int]  # generated so far; the last one is not yet in the cache
    seq: int = 0  # admission order: the highest is the newest
    done: bool = False  # finished (result handed back) or dropped; its cache row goes at the next flush

    @property
    def length(self) -> int:
        """Real tokens of this row in the KV cache: the position of its next input."""
        return len(self.row.prompt_ids) + len(self.tokens) - 1

    @property
    def next_position(self) -> int:
        """Position of the token this row draws next (its sampling counter)."""
        return len(self.row.prompt_ids) + len(self.tokens)


@dataclass
class PrefillStats:
    prompt_tokens: int = 0  # prompt tokens of admitted rows
    computed_tokens: int = 0  # prompt tokens run through the model (shared prefixes included)
    shared_prefills: int = 0  # prefixes shared by newcomers, prefilled once ahead of them
    seconds: float = 0.0


class DecodeBatch:
    """Rows decoding together over one growing KV cache; rows join and leave between steps."""

    def __init__(self, model, tokenizer, prefix_cache_tokens: int = 0, min_prefix_tokens: int = 32,
                 layout: CacheLayout | None = None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.layout = layout or cache_layout(model)  # refuses caches this scheduler cannot keep
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
        self.lost: list[Any] = []  # tickets of unfinished rows a failed cache copy dropped
        self._seq = 0

    def __len__(self) -> int:
        """Rows still decoding."""
        return sum(not s.done for s in self.slots)

    @property
    def live(self) -> list[_Slot]:
        return [s for s in self.slots if not s.done]

    @property
    def width(self) -> int:
        """Columns of the cache (the longest row, padding included)."""
        return 0 if self.mask is None else int(self.mask.shape[1])

    def prefix_bytes(self) -> int:
        return self.prefixes.tokens * self.layout.bytes_per_token

    # -- joining ----------------------------------------------------------------------
    def admit(self, rows: list[Row], tickets: list[Any]) -> list[tuple[Any, RowResult]]:
        """Prefill ``rows`` together, draw their first token and merge them into the batch.

        Returns the rows already finished by that first token (budget 1, eos, stop). If
        the prefill fails the batch is untouched; if the merge fails the batch is cleared
        (its unfinished rows listed in ``lost``) and the newcomers are not in it.
        """
        if not rows:
            return []
        self.flush()
        prompts = [list(r.prompt_ids) for r in rows]
        if self.prefixes.max_tokens > 0:
            self._prefill_shared(prompts)
        cache, mask, logits = self._prefill(prompts)
        self.stats.prompt_tokens += sum(len(p) for p in prompts)
        slots = []
        for r, t in zip(rows, tickets):
            self._seq += 1
            slots.append(_Slot(r, t, [], self._seq))
        first = sample_rows(logits, [r.sampling for r in rows], [r.seed for r in rows],
                            [len(p) for p in prompts])
        try:
            self._merge(cache, mask, slots)
        except BaseException:
            self._lose()
            raise
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
        if past:
            mask = self._compact(cache, mask)
        self.stats.computed_tokens += sum(len(p) - n for p, n in zip(prompts, lengths))
        if self.prefixes.max_tokens > 0:
            for i, p in enumerate(prompts):
                self.prefixes.add(p, [(layer.keys[i:i + 1, :, -len(p):], layer.values[i:i + 1, :, -len(p):])
                                      for layer in self._kv(cache)])
        self.stats.seconds += time.perf_counter() - start
        return cache, mask, logits

    def _seed_cache(self, cache: DynamicCache, reused: list[KV | None], past: int) -> None:
        """Fill the first ``past`` columns with each row's stored prefix, right-aligned."""
        template = next(kv for kv in reused if kv is not None)
        for li, layer in enumerate(self._kv(cache)):
            k0, v0 = template[li]
            keys = k0.new_zeros((len(reused), k0.shape[1], past, k0.shape[3]))
            values = v0.new_zeros((len(reused), v0.shape[1], past, v0.shape[3]))
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
        for layer in self._kv(cache):
            k, v = layer.keys, layer.values
            kidx = index[:, None, :, None].expand(k.shape[0], k.shape[1], width, k.shape[3])
            vidx = index[:, None, :, None].expand(v.shape[0], v.shape[1], width, v.shape[3])
            layer.assign(k.gather(2, kidx), v.gather(2, vidx))
        return new_mask

    def _new_cache(self) -> DynamicCache:
        cache = DynamicCache(config=self.model.config)
        for i in self.layout.kv_layers:  # layers without a cache (MoE/MLP-only) stay as they are
            cache.layers[i] = _GrowLayer()
        return cache

    def _kv(self, cache: DynamicCache) -> list[_GrowLayer]:
        return [cache.layers[i] for i in self.layout.kv_layers]

    def _merge(self, cache: DynamicCache, mask: torch.Tensor, slots: list[_Slot]) -> None:
        if self.cache is None or not self.slots:
            self.cache, self.mask, self.slots = cache, mask, slots
            return
        old_len, new_len = self.mask.shape[1], mask.shape[1]
        width = max(old_len, new_len)
        for old, new in zip(self._kv(self.cache), self._kv(cache)):
            old.assign(torch.cat([_pad_left(old.keys, width), _pad_left(new.keys, width)], dim=0),
                       torch.cat([_pad_left(old.values, width), _pad_left(new.values, width)], dim=0))
        self.mask = torch.cat([F.pad(self.mask, (width - old_len, 0)), F.pad(mask, (width - new_len, 0))], dim=0)
        self.slots = self.slots + slots

    # -- decoding ---------------------------------------------------------------------
    def step(self) -> list[tuple[Any, RowResult]]:
        """One decode step for every row; returns (ticket, result) of the rows it finished.

        Finished rows stay in the cache until the next :meth:`flush` (here, at the start of
        the next step or admission), so a failure after a row finished never loses it. A
        step that fails is rolled back: the batch is as it was before the step.
        """
        self.flush()
        if not self.slots:
            return []
        ids = torch.tensor([[s.tokens[-1]] for s in self.slots], dtype=torch.long, device=self.device)
        positions = torch.tensor([[s.length] for s in self.slots], dtype=torch.long, device=self.device)
        mask, lengths = self.mask, [layer._n for layer in self._kv(self.cache)]
        try:
            self.mask = F.pad(mask, (0, 1), value=1)
            logits = self._forward(ids, self.mask, positions, self.cache)
            tokens = sample_rows(logits, [s.row.sampling for s in self.slots], [s.row.seed for s in self.slots],
                                 [s.next_position for s in self.slots])
        except BaseException:
            self.mask = mask
            for layer, n in zip(self._kv(self.cache), lengths):
                layer.rollback(n)
            raise
        return self._advance(tokens)

    def flush(self) -> None:
        """Free the cache rows of finished and dropped rows (their results are already out).

        If the copy fails, the batch is cleared and its unfinished rows go to ``lost``.
        """
        gone = {id(s) for s in self.slots if s.done}
        if gone:
            try:
                self._evict(gone)
            except BaseException:
                self._lose()
                raise

    def drop(self, keep) -> list[_Slot]:
        """Take out the rows for which ``keep(slot)`` is false (cancelled callers); returns them."""
        gone = [s for s in self.live if not keep(s)]
        for s in gone:
            s.done = True
        self.flush()
        return gone

    def preempt(self, count: int = 1) -> list[Any]:
        """Take out the ``count`` newest unfinished rows; returns their tickets (to restart them)."""
        newest = sorted(self.live, key=lambda s: s.seq)[-count:] if count > 0 else []
        for s in newest:
            s.done = True
        self.flush()
        return [s.ticket for s in newest]

    def clear(self) -> list[_Slot]:
        """Empty the batch; returns every slot it held (finished ones included)."""
        gone, self.slots, self.cache, self.mask = self.slots, [], None, None
        return gone

    def take_lost(self) -> list[Any]:
        lost, self.lost = self.lost, []
        return lost

    # -- internals --------------------------------------------------------------------
    def _lose(self) -> None:
        self.lost += [s.ticket for s in self.clear() if not s.done]

    def _forward(self, ids, mask, positions, cache) -> torch.Tensor:
        with torch.inference_mode():
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                             use_cache=True, logits_to_keep=1, **{self._cache_kw: cache})
        return out.logits[:, -1, :]

    def _advance(self, tokens: list[int], offset: int = 0) -> list[tuple[Any, RowResult]]:
        """Append each row's new token; rows that end (eos, stop string, budget) are marked done."""
        done: list[tuple[Any, RowResult]] = []
        for slot, tok in zip(self.slots[offset:], tokens):
            if slot.done:
                continue
            slot.tokens.append(tok)
            res = check_finished(slot.row, slot.tokens, self.eos, self.tokenizer)
            if res is not None:
                slot.done = True
                done.append((slot.ticket, res))
        return done

    def _evict(self, gone: set[int]) -> None:
        keep = [i for i, s in enumerate(self.slots) if id(s) not in gone]
        if not keep:
            self.clear()
            return
        index = torch.tensor(keep, device=self.device)
        mask = self.mask.index_select(0, index)
        # Columns that are padding for every remaining row are dead weight: cut them.
        start = int(mask.any(dim=0).long().argmax())
        for layer in self._kv(self.cache):
            layer.assign(layer.keys.index_select(0, index)[:, :, start:],
                         layer.values.index_select(0, index)[:, :, start:])
        # The slot list changes only once every layer is copied.
        self.mask = mask[:, start:]
        self.slots = [self.slots[i] for i in keep]


def _pad_left(t: torch.Tensor, width: int) -> torch.Tensor:
    return F.pad(t, (0, 0, width - t.shape[-2], 0)) if t.shape[-2] < width else t
