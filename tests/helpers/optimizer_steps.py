"""Count the optimiser steps a block of code takes (every torch optimiser, one global hook).

A resumed training run must take only the steps left after its checkpoint; a run that silently
starts again from step 0 ends at the same global step, so only the steps it takes tell them apart.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch.optim.optimizer import register_optimizer_step_post_hook


@contextlib.contextmanager
def count_optimizer_steps() -> Iterator[list[int]]:
    """Yields a one-item list holding the number of ``optimizer.step()`` calls so far."""
    count = [0]

    def hook(optimizer, args, kwargs) -> None:
        count[0] += 1

    handle = register_optimizer_step_post_hook(hook)
    try:
        yield count
    finally:
        handle.remove()
