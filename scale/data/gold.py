"""Normalise benchmark gold answers (str / int / float / GSM8K text / boxed solution) to one string.

Lives in ``scale.data`` (loaders normalise golds as they read rows); ``scale.grading``
imports it from here, never the other way round.
"""

from __future__ import annotations

import math
import numbers
import re

__all__ = ["has_final_answer", "normalize_gold"]

_DOLLAR_WRAP_RE = re.compile(r"^\$+(.*?)\$+$", re.DOTALL)
_INT_RE = re.compile(r"[-+]?\d+")
_THOUSANDS_RE = re.compile(r"[-+]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?")
_BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")


def _number_to_str(raw: numbers.Real) -> str:
    if isinstance(raw, numbers.Integral):
        return str(int(raw))
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(f"gold answer is not a finite number: {raw!r}")
    # AMC golds are floats such as 27.0; "27" is what a model writes.
    return str(int(value)) if value.is_integer() else repr(value)


def _last_box(text: str) -> str | None:
    """Content of the last brace-balanced ``\\boxed{...}`` / ``\\fbox{...}``, or None."""
    found = None
    for m in _BOX_RE.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            if text[i] == "\\":
                i += 2  # "\{" / "\}" are literal braces
                continue
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            found = text[m.end() : i - 1]
    return found


def has_final_answer(text: str) -> bool:
    """Whether a worked solution marks its final answer (``#### x`` or a box)."""
    return "####" in text or _last_box(text) is not None


def normalize_gold(raw: object) -> str:
    """Gold answer as a clean string: ``27.0 -> "27"``, ``"... #### 1,234" -> "1234"``,
    ``"$x$" -> "x"``.

    A worked solution with a box (MATH's ``solution`` field) gives its last box's content.
    Raises ValueError naming the value if it is None, empty, a bool or not a str/number.
    """
    if raw is None or isinstance(raw, bool):
        raise ValueError(f"gold answer is missing or invalid: {raw!r}")
    if isinstance(raw, numbers.Real):
        return _number_to_str(raw)
    if not isinstance(raw, str):
        raise ValueError(f"gold answer has unsupported type {type(raw).__name__}: {raw!r}")
    text = raw.strip()
    if "####" in text:
        # GSM8K: worked solution, then "#### <answer>" on the last line.
        text = text.rsplit("####", 1)[1].strip()
        if _THOUSANDS_RE.fullmatch(text):
            text = text.replace(",", "")
    elif "\\boxed" in text or "\\fbox" in text:
        boxed = _last_box(text)
        if boxed is not None:
            text = boxed.strip()
    m = _DOLLAR_WRAP_RE.fullmatch(text)
    if m is not None:
        text = m.group(1).strip()
    if _INT_RE.fullmatch(text) and len(text) < 1000:
        text = str(int(text))  # AIME golds such as "025": a model writes 25
    if not text:
        raise ValueError(f"gold answer is empty: {raw!r}")
    return text
