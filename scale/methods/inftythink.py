"""InftyThink (arXiv 2503.06692): iterative reasoning in bounded segments joined by summaries.

Each round is one System 2 call capped at ``segment_tokens`` new tokens. Round 1 sees the
question; later rounds see the question plus the previous round's summary. A round whose
visible text holds a ``\\boxed{}`` answer ends the attempt. Otherwise the next summary is
the text after the last "Summary:" marker (visible text first, then the thinking text);
without a marker it is the tail of the visible text (else of the thinking text), counted
as ``summary_missing``. After ``max_rounds`` rounds without a box the attempt ends with
``max_rounds`` and the last round's fallback extraction (answer phrase / last number).
Every round is a "solve" call with ``step=round`` so Tpi = tokens per round.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from scale.data.problem import Problem
from scale.errors import ConfigError
from scale.grading.extract import extract_answer
from scale.ledger import Ledger
from scale.methods.base import Attempt, Context, Method, check_system
from scale.prompts import INFTY_FIRST, INFTY_NEXT

# "Summary:", "**Summary:**", "**Summary**:", "SUMMARY :" ...
_MARKER_RE = re.compile(r"summary\s*\**\s*:", re.IGNORECASE)
_BOXED_KINDS = frozenset({"boxed", "boxed_last_of_n", "fbox"})
TRACE_SUMMARY_CHARS = 300  # how much of each summary the trace keeps


@dataclass(frozen=True)
class Summary:
    text: str
    source: str  # "marker_visible" | "marker_reasoning" | "tail_visible" | "tail_reasoning" | "empty"

    @property
    def from_marker(self) -> bool:
        return self.source.startswith("marker")


def after_marker(text: str) -> str | None:
    """Text after the last "Summary:" marker, stripped; None without a marker or when empty."""
    last = None
    for last in _MARKER_RE.finditer(text):  # noqa: B007 - scanning for the last match
        pass
    if last is None:
        return None
    rest = text[last.end():].lstrip("* \t\r\n").strip()
    return rest or None


def extract_summary(visible: str, reasoning: str = "", max_chars: int = 4000) -> Summary:
    """The summary that seeds the next round (see the module docstring for the order).

    A marked summary keeps its first ``max_chars`` characters; a tail fallback keeps the
    last ``max_chars`` of the text (the most recent reasoning).
    """
    for text, where in ((visible, "visible"), (reasoning, "reasoning")):
        marked = after_marker(text)
        if marked is not None:
            return Summary(marked[:max_chars].strip(), f"marker_{where}")
    for text, where in ((visible, "visible"), (reasoning, "reasoning")):
        if text.strip():
            return Summary(text.strip()[-max_chars:].strip(), f"tail_{where}")
    return Summary("", "empty")


def _short(text: str, n: int = TRACE_SUMMARY_CHARS) -> str:
    return text if len(text) <= n else text[:n] + "…"


class InftyThink(Method):
    name = "inftythink"

    def __init__(self, max_rounds: int = 6, segment_tokens: int = 4096, system: str = "s2",
                 summary_chars: int = 4000) -> None:
        for key, value in (("max_rounds", max_rounds), ("segment_tokens", segment_tokens),
                           ("summary_chars", summary_chars)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"method.{key} must be an integer >= 1, got {value!r}")
        self.max_rounds = max_rounds
        self.segment_tokens = segment_tokens
        self.system = check_system(system)
        self.summary_chars = summary_chars

    async def run(self, problem: Problem, sample_idx: int, ctx: Context) -> Attempt:
        system = getattr(ctx.systems, self.system)
        greedy = system.config.sampling.greedy
        ledger = Ledger()
        failures: list[str] = []
        rounds: list[dict[str, Any]] = []
        summary: str | None = None
        answer: str | None = None
        response = ""
        boxed = False
        for r in range(self.max_rounds):
            if summary is None:
                prompt = INFTY_FIRST.format(question=problem.question)
            else:
                prompt = INFTY_NEXT.format(question=problem.question, summary=summary)
            overrides: dict[str, Any] = {"max_new_tokens": self.segment_tokens}
            if not greedy:
                overrides["seed"] = ctx.seed_for(problem, sample_idx, salt=r)
            c = await system.ask([{"role": "user", "content": prompt}], stage="solve",
                                 ledger=ledger, step=r, **overrides)
            extraction = extract_answer(c.text)
            boxed = extraction.how in _BOXED_KINDS
            answer, response = extraction.answer, c.text
            info: dict[str, Any] = {
                "round": r, "response_tokens": c.response_tokens,
                "reasoning_tokens": c.reasoning_tokens, "finish_reason": c.finish_reason,
                "boxed": boxed, "summary_in": None if summary is None else _short(summary),
            }
            rounds.append(info)
            if boxed:
                break
            if r + 1 < self.max_rounds:  # a summary is only needed when another round follows
                s = extract_summary(c.text, c.reasoning, self.summary_chars)
                if not s.from_marker:
                    failures.append("summary_missing")
                info["summary_out"] = _short(s.text)
                info["summary_source"] = s.source
                info["summary_chars"] = len(s.text)
                summary = s.text
        if not boxed:
            failures.append("max_rounds")
        if answer is None:
            failures.append("no_answer")
        trace = {
            "system": self.system,
            "max_rounds": self.max_rounds,
            "segment_tokens": self.segment_tokens,
            "n_rounds": len(rounds),
            "boxed": boxed,
            "rounds": rounds,
        }
        return Attempt(answer=answer, response=response, trace=trace, ledger=ledger,
                       failures=failures)
