"""Difficulty scorers: rate every step of an outline in [0, 1] before any step is solved.

A scorer is built from its ``configs/difficulty/*.yaml`` node (``_target_`` + arguments);
adding one is a module with a :class:`DifficultyScorer` subclass plus one YAML file.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

from scale.ledger import Ledger


@dataclass(frozen=True)
class StepScore:
    value: float  # in [0, 1]; parse failures are recorded and treated as hard
    how: str  # parser's label, "fixed" for the pinned last step, "failed" for fallbacks
    raw: str = ""


class DifficultyScorer(abc.ABC):
    name = "scorer"

    @abc.abstractmethod
    async def score(self, question: str, steps: list[str], ctx: Any, ledger: Ledger) -> list[StepScore]:
        """One score per step; ``steps`` are descriptions (scores precede solving)."""
