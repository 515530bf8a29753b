"""Difficulty scorers: rate every step of an outline in [0, 1] before any step is solved."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scale.errors import ConfigError
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


SCORERS: dict[str, Callable[..., DifficultyScorer]] = {}


def register_scorer(name: str):
    def wrap(cls):
        cls.name = name
        SCORERS[name] = cls
        return cls

    return wrap


def build_scorer(cfg: dict[str, Any]) -> DifficultyScorer:
    import scale.difficulty.prompted  # noqa: F401  (registration)

    cfg = dict(cfg)
    name = cfg.pop("name", None)
    if name not in SCORERS:
        raise ConfigError(f"unknown difficulty scorer {name!r}; known: {', '.join(sorted(SCORERS))}")
    try:
        return SCORERS[name](**cfg)
    except TypeError as err:
        raise ConfigError(f"difficulty {name!r}: {err}") from None
