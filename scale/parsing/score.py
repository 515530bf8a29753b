"""Parse an LLM's difficulty rating for one step into a float in [0, 1].

The model is asked for a bare number in [0, 1]; replies are untrusted. Selection order when
several numbers appear, after stripping ``<think>`` reasoning:

1. a number inside the last ``\\boxed{...}`` that holds one;
2. a number within a few words after the last "score" / "difficulty" / "rating" / "rate" /
   "answer" keyword (one in [0, 1] preferred, so "difficulty of step 2 is 0.4" gives 0.4);
3. the last number whose value is in [0, 1];
4. the last number at all (then clamped).

Percentages ("70%") and fractions ("7/10", "7 out of 10", ``\\frac{7}{10}``) are converted.
Any other number outside [0, 1] is clamped, so "8" gives 1.0 with ``how="clamped"``: no
guessing at 1-10 scales, keeping the mapping predictable. Only when no finite number
appears are words used: easy/simple/trivial/routine -> 0.2, medium/moderate -> 0.5,
hard/difficult/challenging -> 0.8 (the last such word wins). NaN/inf never count.

``bare`` tells whether the reply (``<think>`` stripped, whitespace trimmed) was nothing but
one plain number in [0, 1]: the only reply the SCALE authors accept (``float(reply)``),
re-sampling anything else. Every other accepted parse is *lenient* (scorers count it).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from scale.parsing.outline import strip_think

__all__ = ["ParsedScore", "parse_score"]


@dataclass(frozen=True)
class ParsedScore:
    """Result of :func:`parse_score`.

    ``value`` is in [0, 1] or None; ``how`` is ``"number" | "clamped" | "percent" |
    "fraction" | "word" | "failed"``; ``raw`` is the matched substring ("" when failed);
    ``bare``: the whole reply was one plain number in [0, 1] (see the module docstring).
    """

    value: float | None
    how: str
    raw: str
    bare: bool = False

    @property
    def lenient(self) -> bool:
        """A value was found, but not as a bare number in [0, 1]."""
        return self.value is not None and not self.bare


_FAILED = ParsedScore(None, "failed", "")

_NUM = r"[-+]?(?:\d{1,30}(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d{1,4})?"
# Numbers glued to letters ("step2", "2nd", "x1") are labels, not ratings.
_START = r"(?<![\w.])"
_END = r"(?![A-Za-z_\d])"
_CANDIDATE = re.compile(
    rf"\\[dt]?frac\s*\{{\s*(?P<fn>{_NUM})\s*\}}\s*\{{\s*(?P<fd>{_NUM})\s*\}}"
    rf"|{_START}(?P<n>{_NUM})\s*(?:/|\bout\s+of\b)\s*(?P<d>{_NUM}){_END}"
    rf"|{_START}(?P<p>{_NUM})\s*(?:\\?%|\s*percent\b)"
    rf"|{_START}(?P<x>{_NUM}){_END}",
    re.IGNORECASE,
)
# What ``float()`` reads as a plain decimal: "0.3", ".5", "1", "+0.25", "1e-1" (no words).
_BARE = re.compile(r"^[-+]?(?:\d{1,30}(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d{1,4})?$")
_BOXED = re.compile(r"\\boxed\s*\{(?P<body>[^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")
_KEYWORD = re.compile(r"\b(?:score|difficulty|rating|rate|rated|answer)\b", re.IGNORECASE)
_KEYWORD_WINDOW = 40  # characters after a keyword in which its number must start
_WORDS = re.compile(
    r"\b(easy|simple|trivial|routine|medium|moderate|hard|difficult|challenging)\b",
    re.IGNORECASE,
)
_WORD_VALUE = {
    "easy": 0.2, "simple": 0.2, "trivial": 0.2, "routine": 0.2,
    "medium": 0.5, "moderate": 0.5,
    "hard": 0.8, "difficult": 0.8, "challenging": 0.8,
}  # fmt: skip


@dataclass(frozen=True)
class _Candidate:
    start: int
    value: float  # finite, not yet clamped
    kind: str  # "number" | "percent" | "fraction"
    raw: str

    @property
    def in_range(self) -> bool:
        return 0.0 <= self.value <= 1.0


def _finite(text: str) -> float | None:
    try:
        value = float(text)
    except (ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def _candidates(text: str, offset: int = 0) -> list[_Candidate]:
    """All finite numeric candidates in ``text``, in order."""
    out: list[_Candidate] = []
    for m in _CANDIDATE.finditer(text):
        num, den = m.group("fn") or m.group("n"), m.group("fd") or m.group("d")
        if num is not None and den is not None:
            a, b = _finite(num), _finite(den)
            if a is None or b is None or b == 0:
                continue
            value, kind = a / b, "fraction"
        elif m.group("p") is not None:
            a = _finite(m.group("p"))
            if a is None:
                continue
            value, kind = a / 100.0, "percent"
        else:
            a = _finite(m.group("x"))
            if a is None:
                continue
            value, kind = a, "number"
        if math.isfinite(value):
            out.append(_Candidate(offset + m.start(), value, kind, m.group().strip()))
    return out


def _result(c: _Candidate) -> ParsedScore:
    if c.in_range:
        return ParsedScore(c.value + 0.0, c.kind, c.raw)  # + 0.0 turns -0.0 into 0.0
    return ParsedScore(min(1.0, max(0.0, c.value)), "clamped", c.raw)


def _pick(text: str) -> _Candidate | None:
    for box in reversed(list(_BOXED.finditer(text))):
        inside = _candidates(box.group("body"), box.start("body"))
        if inside:
            return inside[0]
    cands = _candidates(text)
    if not cands:
        return None
    fallback: _Candidate | None = None
    for kw in reversed(list(_KEYWORD.finditer(text))):
        near = [c for c in cands if kw.end() <= c.start <= kw.end() + _KEYWORD_WINDOW]
        good = [c for c in near if c.in_range]
        if good:
            return good[0]
        if near and fallback is None:
            fallback = near[0]
    if fallback is not None:
        return fallback
    in_range = [c for c in cands if c.in_range]
    return in_range[-1] if in_range else cands[-1]


def parse_score(text: str) -> ParsedScore:
    """Parse a difficulty reply into a value in [0, 1] (see module docstring). Never raises."""
    try:
        if not isinstance(text, str):
            return _FAILED
        body = strip_think(text)
        stripped = body.strip()
        if _BARE.match(stripped):
            value = _finite(stripped)
            if value is not None and 0.0 <= value <= 1.0:
                return ParsedScore(value + 0.0, "number", stripped, bare=True)
        chosen = _pick(body)
        if chosen is not None:
            return _result(chosen)
        words = list(_WORDS.finditer(body))
        if words:
            word = words[-1].group(1)
            return ParsedScore(_WORD_VALUE[word.lower()], "word", word)
        return _FAILED
    except Exception:  # last-resort guard: model output must never crash a run
        return _FAILED
