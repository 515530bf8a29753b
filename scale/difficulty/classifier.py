"""The learned scorer: a LoRA sequence classifier over (problem, earlier steps, step).

Its training lives in ``scripts/train_difficulty.py``; routing with it is
``difficulty=classifier difficulty.adapter=PATH``.
"""

from __future__ import annotations

from typing import Any

from scale.difficulty.base import DifficultyScorer, StepScore
from scale.errors import ConfigError
from scale.ledger import Ledger


class ClassifierScorer(DifficultyScorer):
    name = "classifier"

    def __init__(self, adapter: str | None = None) -> None:
        if not adapter:
            raise ConfigError("difficulty=classifier needs difficulty.adapter=PATH (a trained adapter folder)")
        self.adapter = adapter

    async def score(self, question: str, steps: list[str], ctx: Any, ledger: Ledger) -> list[StepScore]:
        raise NotImplementedError("the classifier scorer is not trained yet")
