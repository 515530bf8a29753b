"""Normalise benchmark gold answers (str / int / float / GSM8K text) to one answer string."""

from __future__ import annotations

import math
import numbers
import re

__all__ = ["normalize_gold"]

_DOLLAR_WRAP_RE = re.compile(r"^\$+(.*?)\$+$", re.DOTALL)
_INT_RE = re.compile(r"[-+]?\d+")
_THOUSANDS_RE = re.compile(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")


def _number_to_str(raw: numbers.Real) -> str:
    if isinstance(raw, numbers.Integral):
        return str(int(raw))
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(f"gold answer is not a finite number: {raw!r}")
    # AMC golds are floats such as 27.0; "27" is what a model writes.
    return str(int(value)) if value.is_integer() else repr(value)


def normalize_gold(raw: object) -> str:
    """Gold answer as a clean string: ``27.0 -> "27"``, ``"... #### 1,234" -> "1234"``, ``"$x$" -> "x"``.

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
    m = _DOLLAR_WRAP_RE.fullmatch(text)
    if m is not None:
        text = m.group(1).strip()
    if _INT_RE.fullmatch(text) and len(text) < 1000:
        text = str(int(text))  # AIME golds such as "025": a model writes 25
    if not text:
        raise ValueError(f"gold answer is empty: {raw!r}")
    return text
