"""Pull the final answer out of a model response.

Rules (also in docs/grading.md), first that yields an answer wins:
1. the final box, or the final group of boxes joined by "or" / "and" / commas (their contents
   joined with ", ", compared as a set) — unless a "final answer is/:" phrase comes after the
   last box, which then wins;
2. the last answer phrase, its answer cut out of the sentence;
3. the last mathematical expression in the text.
Every function here accepts any ``str`` and never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scale.grading.boxes import extract_boxed_all, final_group, iter_boxes, unwrap_nested
from scale.grading.expression import last_expression
from scale.grading.phrase import FINAL_PHRASE_RE, PHRASE_RE, answer_after

__all__ = ["Extraction", "extract_answer", "extract_boxed_all"]


@dataclass(frozen=True)
class Extraction:
    """An extracted answer and the rule that produced it."""

    answer: str | None  # None when nothing could be extracted
    # "boxed" | "boxed_last_of_n" | "fbox" | "final_answer_phrase" | "last_expression" | "none"
    how: str


def _last_match(pattern: re.Pattern[str], text: str, pos: int = 0) -> re.Match[str] | None:
    last = None
    for last in pattern.finditer(text, pos):  # noqa: B007 - the loop is a scan for the last match
        pass
    return last


def _from_boxes(text: str) -> Extraction | None:
    boxes = [b for b in iter_boxes(text) if unwrap_nested(b.content)]
    if not boxes:
        return None
    group = final_group(text, boxes)
    contents = list(dict.fromkeys(unwrap_nested(b.content) for b in group))  # ordered, unique
    boxed = ", ".join(contents)
    if FINAL_PHRASE_RE.search(text, boxes[-1].end) is not None:
        # "... \boxed{12} (an intermediate result) ... The final answer is 7.": the phrase wins,
        # when it states a mathematical answer ("I hope the final answer is correct" does not).
        phrase = _last_match(PHRASE_RE, text, boxes[-1].end)
        answer = answer_after(text, phrase, math_only=True) if phrase is not None else None
        if answer is not None and answer != boxed:
            return Extraction(answer, "final_answer_phrase")
    if boxes[-1].kind == "fbox":
        how = "fbox"
    else:
        how = "boxed_last_of_n" if len(boxes) > 1 else "boxed"
    return Extraction(boxed, how)


def extract_answer(text: str) -> Extraction:
    """Extract the final answer: final box (group), else answer phrase, else last expression."""
    boxed = _from_boxes(text)
    if boxed is not None:
        return boxed
    phrase = _last_match(PHRASE_RE, text)
    if phrase is not None:
        answer = answer_after(text, phrase)
        if answer is not None:
            return Extraction(answer, "final_answer_phrase")
    expr = last_expression(text)
    if expr is not None:
        return Extraction(expr, "last_expression")
    return Extraction(None, "none")
