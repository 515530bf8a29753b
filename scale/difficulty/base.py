"""Difficulty scorers: rate every step of an outline in [0, 1] before any step is solved.

A scorer is built from its ``configs/difficulty/*.yaml`` node (``_target_`` + arguments);
adding one is a module with a :class:`DifficultyScorer` subclass plus one YAML file.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

from scale.ledger import Ledger

# Scores a method sets itself instead of asking a scorer: the pinned last step, and the
# one-step fallback when no outline parses. Routers keep these decisions fixed.
FIXED_HOWS = frozenset({"fixed", "fallback"})


@dataclass(frozen=True)
class StepScore:
    value: float  # in [0, 1]; parse failures are recorded and treated as hard
    how: str  # parser's label, "fixed" for the pinned last step, "failed" for fallbacks
    raw: str = ""
    lenient: bool = False  # parsed, but the reply was not a bare number in [0, 1]
    tries: int = 1  # calls made for this score (re-samples included)

    @property
    def fixed(self) -> bool:
        """Set by the method, not scored: routers keep its decision (see scale.routing)."""
        return self.how in FIXED_HOWS


class DifficultyScorer(abc.ABC):
    name = "scorer"
    # Score above which a step counts as hard; ``router.tau=null`` routes at this value.
    threshold: float = 0.5

    @abc.abstractmethod
    async def score(self, question: str, steps: list[str], ctx: Any, ledger: Ledger,
                    seed: int = 0) -> list[StepScore]:
        """One score per step; ``steps`` are descriptions (scores precede solving).

        ``seed``: this attempt's base seed; a sampled scorer derives its calls' seeds from
        it (so reruns score alike), a deterministic one ignores it.
        """
