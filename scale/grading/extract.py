"""Pull the final answer out of a model response.

Rules (also in docs/grading.md): the last ``\\boxed{...}`` / ``\\boxed x`` / ``\\fbox{...}`` wins;
without a box, the last "final answer is X" / "answer: X" phrase; without that, the last
number in the text. Every function here accepts any ``str`` and never raises.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Extraction", "extract_answer", "extract_boxed_all"]


@dataclass(frozen=True)
class Extraction:
    """An extracted answer and the rule that produced it."""

    answer: str | None  # None when nothing could be extracted
    # "boxed" | "boxed_last_of_n" | "fbox" | "final_answer_phrase" | "last_number" | "none"
    how: str


# (?![A-Za-z]) so that e.g. "\boxedsomething" is not read as a box.
_BOX_RE = re.compile(r"\\(boxed|fbox)(?![A-Za-z])")
_PHRASE_RE = re.compile(
    r"final\s+answer\s*(?:is|:)|the\s+answer\s+is|answer[\s*]*:",
    re.IGNORECASE,
)
# Thousands groups only when followed by no further digit, so "1,2345" is not read as 1,234.
_NUMBER_RE = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|-?\.\d+")
_LEADING_NUMBER_RE = re.compile(r"([-+]?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?)\s+[A-Za-z]")
_MATH_DELIMS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))


def _brace_pairs(text: str) -> dict[int, int]:
    """Map each opening brace's index to its closing brace's index (unclosed ones absent).

    One stack pass, so a response full of unbalanced ``\\boxed{`` stays linear-time.
    """
    pairs: dict[int, int] = {}
    stack: list[int] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2  # escaped char: "\{" and "\}" are literal set braces, not grouping
            continue
        if c == "{":
            stack.append(i)
        elif c == "}" and stack:
            pairs[stack.pop()] = i
        i += 1
    return pairs


def _iter_boxes(text: str) -> Iterator[tuple[str, str, int, int]]:
    """Yield (kind, content, start, end) for each well-formed box, left to right."""
    pairs: dict[int, int] | None = None
    pos = 0
    while True:
        m = _BOX_RE.search(text, pos)
        if m is None:
            return
        kind = m.group(1)
        i = m.end()
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == "{":
            if pairs is None:
                pairs = _brace_pairs(text)
            close = pairs.get(i)
            if close is None:  # unbalanced: ignore this box, keep scanning after its name
                pos = m.end()
                continue
            yield kind, text[i + 1 : close], m.start(), close + 1
            pos = close + 1
        elif i > m.end():  # "\boxed 5": the argument is the next run of non-space, non-$ chars
            j = i
            while j < len(text) and not text[j].isspace() and text[j] != "$":
                j += 1
            if j > i:
                yield kind, text[i:j], m.start(), j
            pos = max(j, m.end())
        else:
            pos = m.end()


def extract_boxed_all(text: str) -> list[str]:
    """Contents of every ``\\boxed{}``, ``\\boxed x`` and ``\\fbox{}`` in order (brace-balanced)."""
    return [content for _, content, _, _ in _iter_boxes(text)]


def _last_match(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    last = None
    for last in pattern.finditer(text):  # noqa: B007 - the loop is a scan for the last match
        pass
    return last


def _unwrap_nested(answer: str) -> str:
    """``\\boxed{\\boxed{5}}`` -> ``5``: strip boxes that span the whole answer."""
    while True:
        stripped = answer.strip()
        boxes = list(_iter_boxes(stripped))
        if len(boxes) != 1:
            return stripped
        _, content, start, end = boxes[0]
        if start != 0 or end != len(stripped):
            return stripped
        answer = content


def _from_phrase(text: str) -> str | None:
    """Answer after the last "final answer is" / "answer:" phrase, or None."""
    last = _last_match(_PHRASE_RE, text)
    if last is None:
        return None
    rest = text[last.end() :].lstrip(" \t*:")
    for open_, close in _MATH_DELIMS:
        if rest.startswith(open_):
            end = rest.find(close, len(open_))
            if end != -1:
                inner = _unwrap_nested(rest[len(open_) : end])
                return inner or None
    line = rest.split("\n", 1)[0]
    # Sentence end: ". " or a trailing ".", but not the point of "0.5".
    m = re.search(r"\.(?:\s|$)", line)
    if m is not None:
        line = line[: m.start()]
    line = line.strip().strip("*").strip()
    boxed = extract_boxed_all(line)
    if boxed:
        line = _unwrap_nested(boxed[-1])
    lead = _LEADING_NUMBER_RE.match(line)
    if lead is not None:  # "42 apples" -> "42"
        line = lead.group(1)
    return line.rstrip(".").strip() or None


def _last_number(text: str) -> str | None:
    last = _last_match(_NUMBER_RE, text)
    return None if last is None else last.group(0).replace(",", "")


def extract_answer(text: str) -> Extraction:
    """Extract the final answer: last box, else answer phrase, else last number."""
    boxes = [(kind, _unwrap_nested(content)) for kind, content, _, _ in _iter_boxes(text)]
    boxes = [(kind, content) for kind, content in boxes if content]
    if boxes:
        kind, content = boxes[-1]
        if kind == "fbox":
            how = "fbox"
        else:
            how = "boxed_last_of_n" if len(boxes) > 1 else "boxed"
        return Extraction(content, how)
    phrase = _from_phrase(text)
    if phrase is not None:
        return Extraction(phrase, "final_answer_phrase")
    number = _last_number(text)
    if number is not None:
        return Extraction(number, "last_number")
    return Extraction(None, "none")
