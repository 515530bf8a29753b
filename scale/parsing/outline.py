"""Parse an LLM's problem decomposition ("outline") into an ordered tuple of step texts.

The model is asked for ``{"step1": "...", "step2": "...", ...}`` but replies are untrusted:
JSON may be fenced, wrapped in prose, truncated, single-quoted, carry trailing commas or
raw LaTeX backslashes, or the model may answer with a numbered list instead. Tiers, first
that yields at least one step wins:

1. ``json``: a JSON object/array found in the text parses as is.
2. ``json_repaired``: it parses after repairs (LaTeX backslashes, trailing commas, raw
   control characters, Python literal syntax), or its ``"stepN": ...`` keys can be cut out
   with a regex when nothing parses (unescaped quotes, truncated replies).
3. ``numbered_list``: ``1. ...``, ``1) ...``, ``Step 1: ...``, ``- ...`` lines.

Steps are ordered by the number in their key (``step10`` after ``step2``) and stripped;
a step with no word in it (empty, ``[``, ``{ "step21.step12``, a lone number: debris of
broken JSON, not a goal) is dropped. More than ``max_steps`` steps keep the first
``max_steps - 1`` and the last one (the step SCALE replaces by the problem's question), and
the result says it was truncated. Nothing here raises on any input string.
"""

from __future__ import annotations

import ast
import json
import math
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["ParsedOutline", "has_word", "parse_outline", "strip_think"]


@dataclass(frozen=True)
class ParsedOutline:
    """Result of :func:`parse_outline`.

    ``steps`` are non-empty, stripped step descriptions in order (empty when parsing
    failed); ``how`` is ``"json" | "json_repaired" | "numbered_list" | "failed"``;
    ``error`` is a short reason when ``how == "failed"``.
    """

    steps: tuple[str, ...]
    how: str
    error: str | None = None
    truncated: int = 0  # steps dropped to fit max_steps (0: none)

    @property
    def ok(self) -> bool:
        """True when at least one step was recovered."""
        return self.how != "failed" and bool(self.steps)


# --------------------------------------------------------------------------- think blocks

_THINK_TAG = re.compile(r"<\s*(/?)\s*think\s*>", re.IGNORECASE)


def strip_think(text: str) -> str:
    """Return the visible answer of a reply, with ``<think>`` reasoning removed.

    Closed ``<think>...</think>`` blocks are dropped; a ``</think>`` with no opening tag
    (the tag was in the prompt, as with R1-style templates) drops everything before it. If a
    ``<think>`` block is never closed, the text before it is the answer, unless that is blank:
    then the unclosed thought itself is returned, since a truncated reply may hold the
    answer there. Shared by all parsers in :mod:`scale.parsing`.
    """
    if not isinstance(text, str):
        return ""
    visible: list[str] = []
    thought_start: int | None = None
    pos = 0
    for m in _THINK_TAG.finditer(text):
        closing = m.group(1) == "/"
        if thought_start is None:
            if closing:
                visible = []  # everything so far was reasoning
            else:
                visible.append(text[pos : m.start()])
                thought_start = m.end()
        elif closing:
            thought_start = None
        # a nested <think> inside a thought is part of the thought
        pos = m.end()
    if thought_start is None:
        visible.append(text[pos:])
        return "".join(visible)
    answer = "".join(visible)
    if answer.strip():
        return answer
    return _THINK_TAG.sub(" ", text[thought_start:])


# --------------------------------------------------------------------------- JSON candidates

# A '{' or '[' that plausibly starts an outline, so that braces in LaTeX ("\frac{1}{2}")
# or prose ("[1, 2]") are not tried; bounded so adversarial inputs stay linear-ish.
_CANDIDATE_START = re.compile(r"""\{\s*(?:["']|step|\d+\s*:)|\[\s*["'{]""", re.IGNORECASE)
_MAX_CANDIDATES = 20


def _scan(text: str, start: int = 0, strings: bool = True) -> Iterator[tuple[int, str, bool]]:
    """Each character of ``text`` from ``start``: (index, char, inside a double-quoted JSON string,
    its quotes and escapes included). ``strings=False`` reads every character as outside."""
    in_str = escaped = False
    for i in range(start, len(text)):
        c = text[i]
        if in_str:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_str = False
            yield i, c, True
        elif c == '"' and strings:
            in_str = True
            yield i, c, True
        else:
            yield i, c, False


def _balanced_end(text: str, start: int, string_aware: bool) -> int | None:
    """Index just past the bracket matching ``text[start]``, or None if unbalanced."""
    depth = 0
    for i, c, inside in _scan(text, start, string_aware):
        if inside:
            continue
        if c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
            if depth < 0:
                return None
    return None


def _candidates(text: str) -> list[str]:
    """Plausible JSON snippets in order of appearance; an unclosed one runs to the end."""
    out: list[str] = []
    for m in _CANDIDATE_START.finditer(text):
        if len(out) >= _MAX_CANDIDATES:
            break
        start = m.start()
        end = _balanced_end(text, start, string_aware=True)
        if end is None:  # unescaped quotes inside strings break string tracking
            end = _balanced_end(text, start, string_aware=False)
        out.append(text[start:end] if end is not None else text[start:])
    return out


# --------------------------------------------------------------------------- repairs

# A backslash that is not a JSON escape, or is one but is followed by more letters
# (\frac, \theta, \right, \beta are LaTeX, not \f, \t, \r, \b). \n is kept as a newline
# unless a lowercase letter follows (\neq, \nu), which is far more often LaTeX.
# Already-doubled backslashes are matched first so that "\\\\frac" stays valid.
_BAD_ESCAPE = re.compile(r'\\\\|\\(?!["/]|u[0-9a-fA-F]{4}|[bfrt](?![A-Za-z])|n(?![a-z]))')
_BAD_PY_ESCAPE = re.compile(r"""\\\\|\\(?!["']|u[0-9a-fA-F]{4}|[bfrt](?![A-Za-z])|n(?![a-z]))""")
_CLOSER_AHEAD = re.compile(r"\s*[}\]]")  # what makes a comma trailing
# Signs that a strict parse turned LaTeX into control characters (\frac -> \x0c + "rac").
_MANGLED = re.compile(r"[\x08\x0c]|[\t\r][A-Za-z]|\n(?:eq|u|ot|abla|e)(?![A-Za-z])")


def _escape_latex(text: str, pattern: re.Pattern[str]) -> str:
    """Double lone backslashes that start LaTeX rather than a string escape."""
    return pattern.sub(lambda m: m.group() if len(m.group()) == 2 else "\\\\", text)


def _remove_trailing_commas(text: str) -> str:
    """Drop commas before a closing bracket, outside double-quoted strings."""
    return "".join(c for i, c, inside in _scan(text)
                   if inside or c != "," or not _CLOSER_AHEAD.match(text, i + 1))


def _is_mangled(value: Any) -> bool:
    """True if any string in ``value`` looks like LaTeX eaten by JSON escapes."""
    if isinstance(value, str):
        return bool(_MANGLED.search(value))
    if isinstance(value, dict):
        return any(_is_mangled(v) for v in value.values())
    if isinstance(value, list):
        return any(_is_mangled(v) for v in value)
    return False


def _json_loads(text: str, strict: bool = True) -> tuple[bool, Any]:
    try:
        return True, json.loads(text, strict=strict)
    except (ValueError, RecursionError, TypeError):
        return False, None


def _literal_eval(text: str) -> tuple[bool, Any]:
    """Python-literal parse (single quotes, trailing commas); never raises."""
    if len(text) > 100_000:  # the compiler is not meant for huge untrusted inputs
        return False, None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences in LaTeX
            return True, ast.literal_eval(text)
    except Exception:  # SyntaxError, ValueError, MemoryError, RecursionError, ...
        return False, None


def _repair_json(text: str) -> tuple[bool, Any]:
    return _json_loads(_remove_trailing_commas(_escape_latex(text, _BAD_ESCAPE)), strict=False)


def _repair_python(text: str) -> tuple[bool, Any]:
    return _literal_eval(_escape_latex(text, _BAD_PY_ESCAPE))


# Keys such as "step1", 'Step 2', step_3, "4" after '{' or ',' (or a new line).
_KEY = re.compile(
    r"""(?:^|(?<=[{,\n]))\s*(?:(["'])\s*(?:sub[\s_-]*)?(?:step)?[\s_#-]*(\d{1,6})\s*\1"""
    r"""|(?:sub[\s_-]*)?step[\s_#-]*(\d{1,6}))\s*:""",
    re.IGNORECASE,
)


def _split_by_keys(text: str) -> list[tuple[int, str]] | None:
    """Cut ``"stepN": value`` pairs out of text that no parser accepts."""
    keys = list(_KEY.finditer(text))
    if not keys:
        return None
    pairs: list[tuple[int, str]] = []
    for k, m in enumerate(keys):
        end = keys[k + 1].start() if k + 1 < len(keys) else len(text)
        value = text[m.end() : end].strip()
        if k + 1 == len(keys):
            value = re.sub(r"\s*[}\]]*\s*(?:```)?\s*$", "", value)  # closing of the object
        value = value.rstrip().rstrip(",").strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif value[:1] in "\"'":  # truncated string: opening quote only
            value = value[1:]
        value = value.replace('\\"', '"').replace("\\n", "\n")
        number = m.group(2) or m.group(3)
        pairs.append((int(number), value))
    return pairs


# --------------------------------------------------------------------------- JSON -> steps

_TEXT_KEYS = (
    "description", "step", "content", "text", "task", "goal", "subproblem", "sub_problem",
    "subquestion", "sub_question", "question", "title", "name", "action", "instruction",
)  # fmt: skip
_KEY_NUMBER = re.compile(r"\d{1,6}")


def _to_text(value: Any) -> str:
    """Flatten a JSON value to one line of step text."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, (int, float)):
        return str(value) if not (isinstance(value, float) and not math.isfinite(value)) else ""
    if isinstance(value, dict):
        preferred = [v for k, v in value.items() if str(k).strip().lower() in _TEXT_KEYS]
        parts = preferred or list(value.values())
        return " ".join(t for t in (_to_text(v) for v in parts) if t)
    if isinstance(value, (list, tuple)):
        return " ".join(t for t in (_to_text(v) for v in value) if t)
    return str(value).strip()


def _steps_from_value(value: Any, depth: int = 0) -> list[str]:
    """Ordered step texts from a parsed JSON value (possibly empty)."""
    if depth > 3:
        return []
    if isinstance(value, dict):
        numbered: list[tuple[int, int, Any]] = []
        for pos, (key, item) in enumerate(value.items()):
            m = _KEY_NUMBER.search(str(key))
            if m:
                numbered.append((int(m.group()), pos, item))
        if numbered:
            numbered.sort(key=lambda t: (t[0], t[1]))  # by key number, then dict order
            return [_to_text(item) for _, _, item in numbered]
        if len(value) == 1:  # {"steps": [...]} or {"outline": {...}}
            (inner,) = value.values()
            if isinstance(inner, (dict, list)):
                return _steps_from_value(inner, depth + 1)
        if all(isinstance(item, (str, dict)) for item in value.values()):
            return [_to_text(item) for item in value.values()]  # {"first": ..., "then": ...}
        return []  # e.g. {"a": 1} quoted in prose is not an outline
    if isinstance(value, (list, tuple)):
        if len(value) == 1 and isinstance(value[0], dict):
            inner_steps = _steps_from_value(value[0], depth + 1)
            if len(inner_steps) > 1:  # [{"step1": ..., "step2": ...}]
                return inner_steps
        return [_to_text(item) for item in value]
    return []


# A word: a letter, once step labels ("step21") are taken out.
_STEP_LABEL = re.compile(r"(?i)\bstep[\s_#-]*\d+")
_WORD = re.compile(r"[^\W\d_]")


def has_word(step: str) -> bool:
    """False for JSON debris (``[``, ``{ "step21.step12``), numbers and punctuation."""
    return bool(_WORD.search(_STEP_LABEL.sub(" ", step)))


def _clean(steps: list[str]) -> list[str]:
    return [s.strip() for s in steps if isinstance(s, str) and has_word(s)]


def _from_json(text: str) -> tuple[list[str], str] | None:
    """Steps and tier from the first JSON-ish candidate that yields any."""
    for cand in _candidates(text):
        ok, value = _json_loads(cand)
        if ok and not _is_mangled(value):
            steps = _clean(_steps_from_value(value))
            if steps:
                return steps, "json"
        for repair in (_repair_json, _repair_python):
            ok, value = repair(cand)
            if ok:
                steps = _clean(_steps_from_value(value))
                if steps:
                    return steps, "json_repaired"
        pairs = _split_by_keys(cand)
        if pairs:
            pairs.sort(key=lambda p: p[0])  # stable: equal numbers keep text order
            steps = _clean([v for _, v in pairs])
            if steps:
                return steps, "json_repaired"
    return None


# --------------------------------------------------------------------------- lists

_NUMBERED_ITEM = re.compile(
    r"""^\s*(?:[#>]+\s*)?(?:\*\*|__)?\s*["']?\s*
    (?:(?:sub[\s_-]*)?step[\s_#-]*\d{1,6}\s*["']?\s*(?:\*\*|__)?\s*[.):\-–—]?
      |\d{1,6}\s*["']?\s*(?:\*\*|__)?\s*[.):]
      |\(\d{1,6}\))
    (?:\*\*|__)?(?=\s|$)\s*(?P<body>.*)$""",
    re.IGNORECASE | re.VERBOSE,
)
_BULLET_ITEM = re.compile(r"^\s*[-*•+]\s+(?P<body>.*)$")


def _clean_item(body: str) -> str:
    body = body.strip().rstrip(",").strip()
    if len(body) >= 2 and body[0] == body[-1] and body[0] in "\"'":
        body = body[1:-1]
    return body.strip()


def _from_list(text: str) -> list[str]:
    """Steps from numbered lines; bullets count only when nothing is numbered."""
    lines = text.splitlines()
    numbered = [bool(_NUMBERED_ITEM.match(line)) for line in lines]
    use_bullets = not any(numbered)
    items: list[str] = []
    open_item = False  # a following non-item line continues the current item
    for line, is_num in zip(lines, numbered, strict=True):
        m = _NUMBERED_ITEM.match(line) if is_num else None
        if m is None and use_bullets:
            m = _BULLET_ITEM.match(line)
        if m is not None:
            items.append(_clean_item(m.group("body")))
            open_item = True
        elif not line.strip() or line.strip().startswith("```"):
            open_item = False  # blank line / fence ends an item: prose after a list stays out
        elif open_item and items:
            items[-1] = f"{items[-1]} {line.strip()}".strip()
    return _clean(items)


# --------------------------------------------------------------------------- entry point


def parse_outline(text: str, max_steps: int = 12) -> ParsedOutline:
    """Parse a decomposition reply into at most ``max_steps`` ordered steps.

    More than ``max_steps`` steps keep the first ``max_steps - 1`` and the last (no merging;
    ``truncated`` counts the dropped ones). Zero steps, a non-string input or
    ``max_steps < 1`` give ``how="failed"``. Never raises.
    """
    try:
        if not isinstance(text, str):
            return ParsedOutline((), "failed", "not a string")
        if max_steps < 1:
            return ParsedOutline((), "failed", "max_steps < 1")
        body = strip_think(text)
        if not body.strip():
            return ParsedOutline((), "failed", "empty reply")
        found = _from_json(body)
        if found is None:
            steps = _from_list(body)
            found = (steps, "numbered_list") if steps else None
        if found is None:
            return ParsedOutline((), "failed", "no JSON steps or list items found")
        steps, how = found
        if len(steps) <= max_steps:
            return ParsedOutline(tuple(steps), how)
        kept = [*steps[:max_steps - 1], steps[-1]]
        return ParsedOutline(tuple(kept), how, truncated=len(steps) - max_steps)
    except Exception as exc:  # last-resort guard: model output must never crash a run
        return ParsedOutline((), "failed", f"parser error: {type(exc).__name__}")
