"""An already-extracted answer against a reference, as the runner and the methods grade it."""

from __future__ import annotations

import asyncio

from scale.grading.verify import Grader


async def grade_answer(grader: Grader, answer: str | None, gold: str) -> tuple[bool, str]:
    """The extracted answer against the gold, directly (no re-extraction of the answer), in a
    worker thread (Math-Verify may take seconds); no answer is wrong (``no_answer``)."""
    if answer is None:
        return False, "no_answer"
    return await asyncio.to_thread(grader.equivalent, gold, answer)
