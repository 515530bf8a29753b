"""The record every benchmark row becomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One benchmark problem with a normalised gold answer.

    ``condition`` optionally holds the givens apart from the final question (SCALE's
    decomposition replaces its outline's last step by the question).
    """

    id: str
    question: str
    answer: str
    condition: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
