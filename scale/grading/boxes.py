"""``\\boxed{...}`` / ``\\fbox{...}`` scanning, and the final group of joined boxes.

Every function here accepts any ``str``, never raises, and is linear in the text length
(a degenerate generation can hold tens of thousands of unclosed ``\\boxed{``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "Box",
    "brace_pairs",
    "extract_boxed_all",
    "final_group",
    "iter_boxes",
    "unwrap_nested",
]

# (?![A-Za-z]) so that e.g. "\boxedsomething" is not read as a box.
_BOX_RE = re.compile(r"\\(boxed|fbox)(?![A-Za-z])")

# What may stand between two boxes of one answer: "$\boxed{1}$ or $x=\boxed{-2}$",
# "\boxed{2}, \boxed{3}, and \boxed{5}", "x_1 = \boxed{2},\quad x_2 = \boxed{3}".
# At least one connector; words other than or/and break the group ("... and the area is").
_GAP_SPACE = r"(?:\s|\$|\\[()\[\]]|\\q?quad(?![A-Za-z])|\\[,;:! ]|\\\\|&)"
_CONNECTOR = (
    r"(?:,|;|\bor\b|\band\b"
    r"|\\(?:text|textrm|mathrm|mbox)\s*\{\s*(?:or|and)\s*\})"
)
_ASSIGN = r"(?:[A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?\s*=\s*)"
_GAP_RE = re.compile(
    rf"{_GAP_SPACE}*(?:{_CONNECTOR}{_GAP_SPACE}*)+(?:{_ASSIGN}{_GAP_SPACE}*)?", re.IGNORECASE
)


@dataclass(frozen=True)
class Box:
    """One well-formed box: ``kind`` is "boxed" or "fbox"; ``start``/``end`` span the macro."""

    kind: str
    content: str
    start: int
    end: int


def brace_pairs(text: str) -> dict[int, int]:
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


def iter_boxes(text: str) -> Iterator[Box]:
    """Each well-formed box, left to right (``\\boxed 5``: the next run of non-space chars)."""
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
                pairs = brace_pairs(text)
            close = pairs.get(i)
            if close is None:  # unbalanced: ignore this box, keep scanning after its name
                pos = m.end()
                continue
            yield Box(kind, text[i + 1 : close], m.start(), close + 1)
            pos = close + 1
        elif i > m.end():  # "\boxed 5": the argument is the next run of non-space, non-$ chars
            j = i
            while j < len(text) and not text[j].isspace() and text[j] != "$":
                j += 1
            if j > i:
                yield Box(kind, text[i:j], m.start(), j)
            pos = max(j, m.end())
        else:
            pos = m.end()


def extract_boxed_all(text: str) -> list[str]:
    """Contents of every ``\\boxed{}``, ``\\boxed x`` and ``\\fbox{}`` in order (brace-balanced)."""
    return [box.content for box in iter_boxes(text)]


def unwrap_nested(answer: str) -> str:
    """``\\boxed{\\boxed{5}}`` -> ``5``: strip boxes that span the whole answer."""
    while True:
        stripped = answer.strip()
        boxes = list(iter_boxes(stripped))
        if len(boxes) != 1:
            return stripped
        box = boxes[0]
        if box.start != 0 or box.end != len(stripped):
            return stripped
        answer = box.content


def final_group(text: str, boxes: list[Box]) -> list[Box]:
    """The last box and the boxes joined to it by "or" / "and" / commas, in text order."""
    group = [boxes[-1]]
    for box in reversed(boxes[:-1]):
        if _GAP_RE.fullmatch(text, box.end, group[-1].start) is None:
            break
        group.append(box)
    return group[::-1]
