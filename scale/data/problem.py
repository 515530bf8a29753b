"""The record every benchmark row becomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One benchmark problem with a normalised gold answer.

    ``question`` is always the whole problem text. Pre-split rows (the SCALE authors' format:
    ``condition`` + ``question``) also keep their parts: ``condition`` holds the givens and
    ``final_question`` the final sub-question (SCALE's decomposition replaces its outline's
    last step by it); both are None for ordinary rows.
    """

    id: str
    question: str
    answer: str
    condition: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    final_question: str | None = None
