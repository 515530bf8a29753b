"""Parse which of ``n`` candidate outlines ("Outline 1" ... "Outline n") a model chose.

"Version N" counts as "Outline N" (the SCALE authors label their candidates ``version1`` ...,
so a prompt file in their wording gets replies such as ``version3``).

Order of evidence, after stripping ``<think>`` reasoning:

1. ``\\boxed{N}`` / ``\\boxed{Outline N}`` (the last one);
2. an explicit final-answer phrase, the one ending last in the text: "choose / select /
   pick / prefer / best / answer / final ... Outline N", "Answer: N", "I choose 2",
   "Outline N is the best";
3. the last "Outline N" mention;
4. a lone integer (exactly one distinct integer in the whole reply).

The label is 1-based; the result is the 0-based index, or None when nothing is found or the
chosen label is outside 1..n (no fallback to weaker evidence then: the model's answer was
invalid). Never raises.
"""

from __future__ import annotations

import re

from scale.parsing.outline import strip_think

__all__ = ["parse_choice"]

_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip
_N = r"(?P<label>\d{1,6}(?![\d])|" + "|".join(_WORDS) + r"\b)"
_OUTLINE = r"\b(?:outline|version)\s*(?:no\.?|number|#)?\s*" + _N
_KW = (
    r"\b(?:choose|chose|chosen|choice|select|selected|selection|pick|picked|prefer|"
    r"preferred|best|winner|answer|final|go\s+with|going\s+with)\b"
)
_FLAGS = re.IGNORECASE

_BOXED = re.compile(r"\\boxed\s*\{\s*(?:\\text(?:bf)?\s*\{\s*)?(?:(?:outline|version)\s*#?\s*)?" + _N, _FLAGS)
_FINAL = [
    # "I choose Outline 2", "The best is Outline 4 because ..." (within one sentence)
    re.compile(_KW + r"[^\n.!?]{0,60}?" + _OUTLINE, _FLAGS),
    # "Answer: 3", "**Answer:** 2", "I choose 2", "final answer is 3"
    re.compile(
        _KW + r"(?:\s+(?:outline|option|answer|choice))?(?:\s+(?:is|would\s+be|will\s+be))?"
        r"[\s:=*\"'(\[#-]{0,8}" + _N,
        _FLAGS,
    ),
    # "Outline 3 is the best", "Outline 2 seems most coherent"
    re.compile(
        _OUTLINE + r"[^\n.!?]{0,20}?\b(?:is|seems|looks|appears)\b[^\n.!?]{0,20}?"
        r"\b(?:best|better|superior|preferred|strongest|optimal|most)\b",
        _FLAGS,
    ),
]
_OUTLINE_RE = re.compile(_OUTLINE, _FLAGS)
_INT = re.compile(r"(?<![\d.])\d{1,6}(?![\d])(?!\.\d)")


def _label(text: str) -> int:
    word = text.lower()
    return _WORDS[word] if word in _WORDS else int(text)


def _find_label(text: str) -> int | None:
    boxes = list(_BOXED.finditer(text))
    if boxes:
        return _label(boxes[-1].group("label"))
    finals = [m for pattern in _FINAL for m in pattern.finditer(text)]
    if finals:
        return _label(max(finals, key=lambda m: m.end()).group("label"))
    mentions = list(_OUTLINE_RE.finditer(text))
    if mentions:
        return _label(mentions[-1].group("label"))
    integers = {int(m.group()) for m in _INT.finditer(text)}
    if len(integers) == 1:
        return integers.pop()
    return None


def parse_choice(text: str, n: int) -> int | None:
    """0-based index of the chosen outline among ``n``, or None. Never raises."""
    try:
        if not isinstance(text, str) or not isinstance(n, int) or n < 1:
            return None
        label = _find_label(strip_think(text))
        if label is None or not 1 <= label <= n:
            return None
        return label - 1
    except Exception:  # last-resort guard: model output must never crash a run
        return None
