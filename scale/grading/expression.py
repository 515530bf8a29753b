"""Mathematical expressions in prose: ``2/3``, ``\\frac{10}{9}``, ``(7, 6)``, ``[2, \\infty)``,
``x \\geq 5``, a ``pmatrix``, ``-7``, ``1,234`` — not the trailing run of digits inside them.

A small tokenizer joins adjacent math tokens into runs: operators join across spaces, LaTeX
commands join across spaces, brackets keep their commas and spaces, and a word of two or more
letters, a sentence end, a ``$`` or a newline ends a run. A run counts as an expression when it
holds a digit or a value command (``\\pi``, ``\\sqrt``, ``\\frac``, ``\\infty``, a matrix).
For ``a = b = c`` the part after the last top-level ``=`` is kept ("48/2 = 24" -> ``24``);
Math-Verify equates ``x = 5`` with ``5``, so nothing is lost for variable answers.
Linear in the text length; never raises.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from scale.grading.boxes import brace_pairs

__all__ = ["Expr", "expressions", "last_expression", "leading_expression"]

_TEXT_CMDS = "text|textbf|textit|textrm|mathrm|mathbf|mathit|mbox|operatorname"
_OP_CMDS = (
    "cdot|times|div|pm|mp|geq|leq|ge|le|geqslant|leqslant|neq|ne|approx|to|in|notin|cup|cap"
    "|setminus|equiv|sim|gt|lt|mid|colon"
)
_TOKEN_RE = re.compile(
    r"(?P<env>\\begin\{(?P<env_name>[A-Za-z*]+)\})"
    rf"|(?P<text>\\(?:{_TEXT_CMDS})\s*\{{)"
    r"|(?P<open>\\\{|\\lbrace(?![A-Za-z])|\\langle(?![A-Za-z])|[(\[{])"
    r"|(?P<close>\\\}|\\rbrace(?![A-Za-z])|\\rangle(?![A-Za-z])|[)\]}])"
    r"|(?P<space>[ \t]+|\\[,;:! ]|\\q?quad(?![A-Za-z])|~)"
    r"|(?P<brk>\\\\|\\[$])"
    rf"|(?P<opcmd>\\(?:{_OP_CMDS})(?![A-Za-z]))"
    r"|(?P<cmd>\\[A-Za-z]+|[π∞√])"
    r"|(?P<num>[1-9]\d{0,2}(?:,\d{3})+(?![\d])(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"|(?P<postfix>\\%|%|°)"
    r"|(?P<word>[A-Za-z]{2,})"
    r"|(?P<var>[A-Za-z])"
    r"|(?P<op>[-+*/^=<>≤≥≠×÷·−_|'])"
    r"|(?P<comma>,)"
)
# Kinds next to which a space does not end a run (LaTeX ignores spaces; "3 + 4", "2 \pi").
_SPACE_OK = frozenset({"op", "opcmd", "cmd", "text", "env"})
_UNARY = frozenset({"-", "+", "−", "\\pm", "\\mp"})
_VALUE_CMDS = "pi|infty|sqrt|frac|dfrac|tfrac|binom|begin"
_MATHY_RE = re.compile(rf"\d|\\(?:{_VALUE_CMDS})(?![A-Za-z])|[π∞√]")
_THOUSANDS_RE = re.compile(r"-?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?")


@dataclass(frozen=True)
class Expr:
    """An expression found in the text: its span and the answer string it gives."""

    start: int
    end: int
    text: str


@dataclass
class _Tok:
    kind: str
    start: int
    end: int


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    n = len(text)
    pairs: dict[int, int] | None = None  # computed once: many unclosed groups stay linear
    env_ends: dict[str, list[int]] = {}
    while pos < n:
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            out.append(_Tok("brk", pos, pos + 1))
            pos += 1
            continue
        kind = m.lastgroup or "brk"
        end = m.end()
        if kind == "env_name":
            kind = "env"
        if kind == "env":
            name = m.group("env_name")
            if name not in env_ends:
                env_ends[name] = [e.end() for e in re.finditer(re.escape(f"\\end{{{name}}}"), text)]
            ends = env_ends[name]
            k = bisect.bisect_left(ends, end)
            if k == len(ends):
                kind = "brk"
            else:
                end = ends[k]
        elif kind == "text":
            if pairs is None:
                pairs = brace_pairs(text)
            close = pairs.get(end - 1)
            if close is None:
                kind = "brk"
            else:
                end = close + 1
        out.append(_Tok(kind, pos, end))
        pos = end
    return out


def _finish(text: str, run: list[_Tok], unclosed: list[int]) -> Expr | None:
    """Turn one run of tokens into an expression, or None if it holds no value."""
    if unclosed:  # "(the answer 5": keep what follows the last bracket left open
        run = run[unclosed[-1] + 1 :]
    while (
        run
        and run[0].kind in ("op", "opcmd", "comma")
        and text[run[0].start : run[0].end] not in _UNARY
    ):
        run = run[1:]
    while run and run[-1].kind in ("op", "opcmd", "comma"):
        run = run[:-1]
    if not run:
        return None
    depth = 0
    last_eq = None
    for i, tok in enumerate(run):
        if tok.kind == "open":
            depth += 1
        elif tok.kind == "close":
            depth -= 1
        elif depth == 0 and tok.kind == "op" and text[tok.start : tok.end] == "=":
            last_eq = i
    start, end = run[0].start, run[-1].end
    if last_eq is not None and last_eq + 1 < len(run):
        run = run[last_eq + 1 :]
    answer = text[run[0].start : end].replace("−", "-").strip()
    if not _MATHY_RE.search(answer):
        return None
    if _THOUSANDS_RE.fullmatch(answer):
        answer = answer.replace(",", "")
    return Expr(start, end, answer)


def expressions(text: str) -> list[Expr]:
    """Every expression in ``text``, left to right."""
    found: list[Expr] = []
    run: list[_Tok] = []
    unclosed: list[int] = []  # indices in ``run`` of brackets not yet closed
    pending_space = False

    def flush() -> None:
        nonlocal run, unclosed
        if run:
            expr = _finish(text, run, unclosed)
            if expr is not None:
                found.append(expr)
        run, unclosed = [], []

    for tok in _tokens(text):
        kind = tok.kind
        if kind == "space":
            pending_space = True
            continue
        if kind in ("brk", "word") or (kind == "comma" and not unclosed):
            flush()
        elif kind == "close" and not unclosed:
            flush()  # a stray closing bracket ends the run
        else:
            if (
                run
                and pending_space
                and not unclosed
                and run[-1].kind not in _SPACE_OK
                and kind not in _SPACE_OK
            ):
                flush()  # "5 m", "x 5": juxtaposed across a space are two things
            if kind == "close":
                unclosed.pop()
            run.append(tok)
            if kind == "open":
                unclosed.append(len(run) - 1)
        pending_space = False
    flush()
    return found


def last_expression(text: str) -> str | None:
    """The last expression in ``text`` (the last-resort answer), or None."""
    found = expressions(text)
    return found[-1].text if found else None


def leading_expression(text: str) -> str | None:
    """The expression ``text`` starts with ("42 apples" -> ``42``), or None."""
    lead = len(text) - len(text.lstrip(" \t*$"))
    found = expressions(text)
    if found and found[0].start <= lead + 2 and not text[lead : found[0].start].strip("\\(["):
        return found[0].text
    return None
