"""The answer after an answer phrase ("final answer is", "the answer is", "answer:"), cut out
of its sentence: "Final Answer: The largest $n$ is 34." gives ``34``, not the sentence.
"""

from __future__ import annotations

import re

from scale.grading.boxes import extract_boxed_all, unwrap_nested
from scale.grading.expression import last_expression, leading_expression

__all__ = ["FINAL_PHRASE_RE", "PHRASE_RE", "answer_after"]

PHRASE_RE = re.compile(
    r"final\s+answer\s*(?:is|:)|the\s+answer\s+is|answer[\s*]*:",
    re.IGNORECASE,
)
# Only these beat an earlier box (a later "to check the answer: 6*2 = 12" must not).
FINAL_PHRASE_RE = re.compile(r"final\s+answer\s*(?:is|:)", re.IGNORECASE)
_MATH_DELIMS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
# "The largest $n$ is 34": the answer follows the last copula of the sentence.
_COPULA_RE = re.compile(r"\s(?:is|are|was|equals|becomes|be)\s+", re.IGNORECASE)
_SENTENCE_END_RE = re.compile(r"\.(?:\s|$)")  # ". " or a final ".", not the point of "0.5"


def answer_after(text: str, phrase: re.Match[str], math_only: bool = False) -> str | None:
    """The answer that follows ``phrase`` (a match of PHRASE_RE in ``text``), or None.

    In order: a ``$...$`` / ``\\(...\\)`` / ``\\[...\\]`` right after the phrase; else, within
    the sentence: its last box; the expression it starts with ("42 apples" -> 42); the
    expression after its last "is"/"are"/"equals"; its last expression; else its words
    (text answers such as "Evelyn" or "(C)") unless ``math_only``.
    """
    rest = text[phrase.end() :].lstrip(" \t\r\n*:")
    for open_, close in _MATH_DELIMS:
        if rest.startswith(open_):
            end = rest.find(close, len(open_))
            if end != -1:
                inner = unwrap_nested(rest[len(open_) : end])
                if inner:
                    return inner
    sentence = rest.split("\n", 1)[0]
    m = _SENTENCE_END_RE.search(sentence)
    if m is not None:
        sentence = sentence[: m.start()]
    sentence = sentence.strip().strip("*").strip()
    boxed = [b for b in extract_boxed_all(sentence) if b.strip()]
    if boxed:
        return unwrap_nested(boxed[-1])
    lead = leading_expression(sentence)
    if lead is not None:
        return lead
    copulas = list(_COPULA_RE.finditer(sentence))
    if copulas:
        tail = sentence[copulas[-1].end() :]
        found = leading_expression(tail) or last_expression(tail)
        if found is not None:
            return found
    found = last_expression(sentence)
    if found is not None or math_only:
        return found
    return sentence.rstrip(".").strip() or None
