"""KV of recently prefilled prompts, reused by prompts that start the same way.

SCALE's prompts share long prefixes: the K outline samples have the same prompt, the
step scores of a problem share the problem and the plan, and each solve step extends the
previous one's "process so far". Prefill is compute-bound (a few hundred tokens/s on a
CPU), so reusing a stored prefix and prefilling only the rest saves most of it.

Entries are whole prompts (token tuples) with their per-layer keys/values ``[1, H, L, D]``.
The store is bounded by ``max_tokens`` (least recently used goes first); an entry that is a
prefix of a newer one is dropped, since the newer one serves both.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch

KV = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys, values [1, heads, length, head_dim]


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the shared start of ``a`` and ``b`` (same sequence type: slices are compared)."""
    n = min(len(a), len(b))
    i = 0
    step = 64
    while i + step <= n and a[i:i + step] == b[i:i + step]:  # slices compare in C
        i += step
    while i < n and a[i] == b[i]:
        i += 1
    return i


class PrefixCache:
    """Longest-common-prefix lookup over stored prompt KVs (LRU, token-bounded)."""

    def __init__(self, max_tokens: int, min_tokens: int = 32) -> None:
        self.max_tokens = max_tokens
        self.min_tokens = min_tokens
        self._entries: OrderedDict[tuple[int, ...], KV] = OrderedDict()
        self.tokens = 0
        self.hits = 0
        self.reused_tokens = 0

    def __len__(self) -> int:
        return len(self._entries)

    def match(self, prompt: Sequence[int]) -> tuple[tuple[int, ...] | None, int]:
        """The entry sharing the longest prefix with ``prompt`` and that length.

        The length is capped at ``len(prompt) - 1`` (the last prompt token must be run to
        get the next-token logits) and is 0 below ``min_tokens`` (not worth a copy).
        """
        best, best_n = None, 0
        limit = len(prompt) - 1
        prompt = tuple(prompt)  # keys are tuples: a list slice never equals a tuple slice
        for key in self._entries:
            n = min(common_prefix(key, prompt), limit)
            if n > best_n:
                best, best_n = key, n
        if best_n < self.min_tokens:
            return None, 0
        return best, best_n

    def take(self, key: tuple[int, ...], n: int) -> KV:
        """The first ``n`` positions of an entry (marks it recently used)."""
        self._entries.move_to_end(key)
        self.hits += 1
        self.reused_tokens += n
        return [(k[:, :, :n], v[:, :, :n]) for k, v in self._entries[key]]

    def add(self, tokens: Sequence[int], kv: KV) -> None:
        key = tuple(tokens)
        if self.max_tokens <= 0 or len(key) < self.min_tokens or len(key) > self.max_tokens:
            return
        if key in self._entries:
            self._entries.move_to_end(key)
            return
        for old in [k for k in self._entries if len(k) < len(key) and key[: len(k)] == k]:
            self._drop(old)
        self._entries[key] = [(k.contiguous(), v.contiguous()) for k, v in kv]
        self.tokens += len(key)
        while self.tokens > self.max_tokens:
            self._drop(next(iter(self._entries)))

    def clear(self) -> None:
        self._entries.clear()
        self.tokens = 0

    def _drop(self, key: tuple[int, ...]) -> None:
        del self._entries[key]
        self.tokens -= len(key)
