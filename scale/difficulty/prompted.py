"""The paper's scorer: one System 1 call per step, a bare number in [0, 1]."""

from __future__ import annotations

import asyncio
from typing import Any

from scale.difficulty.base import DifficultyScorer, StepScore
from scale.errors import ConfigError
from scale.ledger import Ledger
from scale.parsing import parse_score
from scale.prompts import SCORE_USER


class PromptedScorer(DifficultyScorer):
    name = "prompted"

    def __init__(self, max_new_tokens: int = 64, on_failure: float = 1.0) -> None:
        if max_new_tokens < 1:
            raise ConfigError(f"difficulty.max_new_tokens must be >= 1, got {max_new_tokens}")
        if not 0 <= on_failure <= 1:
            raise ConfigError(f"difficulty.on_failure must be in [0, 1], got {on_failure}")
        self.max_new_tokens = max_new_tokens
        self.on_failure = on_failure

    async def score(self, question: str, steps: list[str], ctx: Any, ledger: Ledger) -> list[StepScore]:
        s1 = ctx.systems.s1

        async def one(i: int) -> StepScore:
            previous = "\n".join(f"Step {j + 1}: {s}" for j, s in enumerate(steps[:i])) or "(none)"
            prompt = SCORE_USER.format(question=question, previous=previous, step=steps[i])
            c = await s1.ask([{"role": "user", "content": prompt}], stage="score", ledger=ledger, step=i,
                             max_new_tokens=self.max_new_tokens, temperature=0.0)
            parsed = parse_score(c.text)
            if parsed.value is None:
                return StepScore(self.on_failure, "failed", c.text[:200])
            return StepScore(parsed.value, parsed.how, parsed.raw)

        # Scores depend only on descriptions, so all steps are rated concurrently.
        return list(await asyncio.gather(*(one(i) for i in range(len(steps)))))
