"""How many rows the iteration scheduler keeps: admitted by KV memory, shrunk on OOM, grown back.

The KV cache of a batch is ``rows x width x bytes_per_token`` (rows are left-padded to
the longest), plus spare room the cache grows into. Bytes per token come from the
model's cache layout (:func:`scale.engine.hf_layout.cache_layout`). A row is admitted
while the projected cache (with ``headroom`` tokens of growth) fits the budget; when the
running rows outgrow it, or the device runs out of memory anyway, the newest rows are
pre-empted (they restart later and, being seeded, redraw the same tokens) and the
budget shrinks. After ``quiet_steps`` decode steps without an out-of-memory error the
budget doubles, up to its cap. The cap is measured at the first admission, not when the
engine is built: a second engine loaded after this one (System 1 and System 2 on one GPU),
or anything else that took memory since, is left out of it.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch

_SPARE = 1.25  # the cache keeps up to a quarter of spare room to grow into


def default_cap(device: torch.device, fraction: float) -> float:
    """``fraction`` of the memory free now: the device's, or the machine's RAM on CPU."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return fraction * free
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return float("inf")
    return fraction * free


class KVBudget:
    """The admission budget in bytes of KV cache (and a cap on tokens prefilled at once)."""

    def __init__(self, bytes_per_token: int, cap_bytes: float | Callable[[], float], quiet_steps: int = 200,
                 headroom_tokens: int = 64) -> None:
        """``cap_bytes``: the cap, or a function measuring it, called at the first admission."""
        self.bytes_per_token = bytes_per_token
        self._measure = cap_bytes if callable(cap_bytes) else None
        self._cap: float | None = None if callable(cap_bytes) else float(cap_bytes)
        self._budget: float | None = self._cap
        self.prefill_cap: int | None = None  # tokens prefilled together; None = no cap
        self.quiet_steps = quiet_steps
        self.headroom = headroom_tokens
        self.oom_count = 0
        self._quiet = 0

    def _sized(self) -> None:
        if self._measure is not None:
            measure, self._measure = self._measure, None
            value = float(measure())
            self._cap = value if self._cap is None else self._cap
            self._budget = value if self._budget is None else self._budget

    @property
    def cap(self) -> float:
        self._sized()
        assert self._cap is not None
        return self._cap

    @cap.setter
    def cap(self, value: float) -> None:
        self._cap = value

    @property
    def budget(self) -> float:
        self._sized()
        assert self._budget is not None
        return self._budget

    @budget.setter
    def budget(self, value: float) -> None:
        self._budget = value

    @property
    def measured(self) -> bool:
        """Whether the cap has been measured (it is, at the first admission)."""
        return self._measure is None

    @property
    def shrunk(self) -> bool:
        return self.budget < self.cap or self.prefill_cap is not None

    def projected(self, rows: int, width: int) -> float:
        """Bytes of a cache of ``rows`` rows of ``width`` tokens, with growth headroom and spare room."""
        return rows * (width + self.headroom) * self.bytes_per_token * _SPARE

    def admit_count(self, live: int, width: int, reserved: float, prompt_lens: list[int], max_rows: int) -> int:
        """How many of the waiting prompts (in order) join ``live`` rows of cache ``width``.

        ``reserved``: bytes held elsewhere (the prompt-prefix store). An empty batch always
        takes one row: a row too big for the device fails on its own, with its size named.
        """
        n, tokens = 0, 0
        while n < len(prompt_lens) and live + n < max_rows:
            w = max(width, *prompt_lens[: n + 1])
            if live + n > 0 and self.projected(live + n + 1, w) + reserved > self.budget:
                break
            if n > 0 and self.prefill_cap is not None and tokens + prompt_lens[n] > self.prefill_cap:
                break
            tokens += prompt_lens[n]
            n += 1
        return n

    def over(self, live: int, width: int, reserved: float) -> bool:
        """True when ``live`` rows (more than one) will not fit the budget after the next step."""
        return live > 1 and self.projected(live, width + 1 - self.headroom) + reserved > self.budget

    def on_oom(self, live: int, width: int, prefill_tokens: int = 0) -> None:
        """Shrink after an out-of-memory error at ``live`` rows of ``width`` (and a prefill of that many tokens)."""
        self.oom_count += 1
        self._quiet = 0
        used = self.projected(live, width)
        self.budget = max(self.projected(1, 1), min(self.budget, used) * 0.75)
        if prefill_tokens:
            self.prefill_cap = max(1, prefill_tokens // 2)

    def tick(self) -> None:
        """One decode step without an out-of-memory error."""
        if not self.shrunk:
            return
        self._quiet += 1
        if self._quiet >= self.quiet_steps:
            self._quiet = 0
            self.budget = min(self.cap, self.budget * 2)
            if self.prefill_cap is not None:
                self.prefill_cap *= 2
                if self.budget >= self.cap:
                    self.prefill_cap = None
