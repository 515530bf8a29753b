"""In-process equivalence for the trivial cases, and the answer form sent to Math-Verify.

Commas: only a well-formed thousands number is a number (``32,349``, ``1,234.5``, ``5,\\!000``:
a first group of 1-3 digits not starting with 0, then groups of exactly three digits, no
spaces). Anything else with a top-level comma is a list: ``32, 349``, ``0, 100``, ``12,34``.
"""

from __future__ import annotations

import re

__all__ = [
    "canonical",
    "fast_equivalent",
    "is_thousands",
    "list_items",
    "mv_form",
    "split_top_level",
]

_LEFT_RIGHT_RE = re.compile(r"\\(?:left|right)(?![A-Za-z])")
_DEGREE_RE = re.compile(r"\^\s*(?:\{\s*\\circ\s*\}|\\circ)|°")
_SPACING_RE = re.compile(r"\\[,;:]|\\ ")
_UNIT_AFTER_NUMBER_RE = re.compile(
    r"([-+]?(?:\d{1,3}(?:,\d{3})+(?:\.\d*)?|\d+(?:\.\d*)?|\.\d+))"  # the number
    r"\\(?:text|mbox|mathrm)\{[^{}]*\}(?:\^\{?\d\}?)?"  # "\text{ cm}", "\mbox{m}^2"
)
_THOUSANDS_RE = re.compile(r"[-+]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?")
# A comma followed by a space (plain or LaTeX) separates list items, never thousands.
_SPACED_COMMA_RE = re.compile(r",(?:\s|\\[,;: ]|\\q?quad(?![A-Za-z])|~)")
_INT_RE = re.compile(r"[-+]?\d+")
_OPENERS = {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}


def _prepare(answer: str) -> str:
    """Drop ``$`` / ``\\$``, ``\\!`` and LaTeX's ``{,}``: they never change which answer it is."""
    s = answer.replace("\\$", "").replace("$", "")
    return s.replace("\\!", "").replace("{,}", ",").strip()


def is_thousands(answer: str) -> bool:
    """``32,349`` is a number; ``32, 349`` and ``0,100`` are not."""
    s = _prepare(answer).rstrip(".")
    return _SPACED_COMMA_RE.search(s) is None and _THOUSANDS_RE.fullmatch(s) is not None


def split_top_level(answer: str) -> list[str]:
    """Items of a comma list outside brackets/braces (``\\{``/``\\}`` count); one item if none."""
    items: list[str] = []
    depth = 0
    start = 0
    i = 0
    n = len(answer)
    while i < n:
        c = answer[i]
        if c == "\\":
            if i + 1 < n and answer[i + 1] in "{}":
                depth += 1 if answer[i + 1] == "{" else -1
            i += 2
            continue
        if c in _OPENERS:
            depth = max(0, depth + _OPENERS[c])  # "[1, 2)" closes with the other kind
        elif c == "," and depth == 0:
            items.append(answer[start:i])
            start = i + 1
        i += 1
    items.append(answer[start:])
    return [item.strip() for item in items]


def list_items(answer: str) -> list[str] | None:
    """The items of a list answer (two or more), or None for a single answer."""
    if is_thousands(answer):
        return None
    items = split_top_level(_prepare(answer))
    return items if len(items) > 1 and all(items) else None


def canonical(answer: str) -> str:
    """Cheap textual canonical form: equal forms are certainly the same answer."""
    s = _prepare(answer)
    thousands = is_thousands(s)
    s = re.sub(r"\\[dt]frac(?![A-Za-z])", r"\\frac", s)
    s = _LEFT_RIGHT_RE.sub("", s)
    s = _SPACING_RE.sub("", s)
    s = _DEGREE_RE.sub("", s)
    s = s.replace("\\%", "").replace("%", "")
    s = "".join(s.split())
    m = _UNIT_AFTER_NUMBER_RE.fullmatch(s)
    if m is not None:  # "5\text{cm}" -> "5"; only after a number, so "\text{Evelyn}" survives
        s = m.group(1)
        thousands = thousands or is_thousands(s)
    s = s.rstrip(".")
    if thousands and _THOUSANDS_RE.fullmatch(s):
        s = s.replace(",", "")
    return s


def fast_equivalent(a: str, b: str) -> tuple[bool, str] | None:
    """Decide in-process when it is trivial; None means "ask Math-Verify"."""
    ca, cb = canonical(a), canonical(b)
    if ca and ca == cb:
        return True, "equal"
    if _INT_RE.fullmatch(ca) and _INT_RE.fullmatch(cb):
        try:
            same = int(ca) == int(cb)
        except ValueError:  # int() refuses strings of more than 4300 digits
            return None
        return same, "equal" if same else "not_equal"
    la, lb = list_items(a), list_items(b)
    if la is not None and lb is not None:
        if {canonical(x) for x in la} == {canonical(x) for x in lb}:
            return True, "equal"  # lists compare as sets, as Math-Verify does
    elif la is not None or lb is not None:
        # A list holding a plain integer other than the single answer: "0, 100" is not 100.
        items, single = (la, cb) if la is not None else (lb, ca)
        value = _int_value(single)
        if value is not None and any(
            v is not None and v != value for v in (_int_value(canonical(x)) for x in items or ())
        ):
            return False, "not_equal"
    return None


def _int_value(canonical_form: str) -> int | None:
    if not _INT_RE.fullmatch(canonical_form) or len(canonical_form) > 1000:
        return None
    return int(canonical_form)


def mv_form(answer: str) -> str:
    """The answer as Math-Verify should read it: a list keeps ", " between its items, so that
    ``0,100`` is the list {0, 100} and not a decimal comma."""
    items = list_items(answer)
    return answer if items is None else ", ".join(items)
