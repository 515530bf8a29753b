"""InftyThink (arXiv 2503.06692): iterative reasoning in bounded segments joined by summaries.

Each round is one call on ``system`` capped at ``segment_tokens`` new tokens, from the
question (round 1) or the question plus the summary so far. A round whose visible text
holds a ``\\boxed{}`` answer ends the attempt. Otherwise the same model writes the summary
in a second call (stage ``summarize``, at most ``summary_tokens``): the problem and the
round's partial reasoning (its thinking, then its visible text) in, the summary out; the
next round starts from question + summary. A thinking model stopped inside ``<think>``
never writes a summary of its own, hence the separate call. A summary call that returns
no visible text (it spent its budget thinking) falls back to the tail of its own thought,
else of the partial reasoning, counted as ``summary_missing``. After ``max_rounds`` rounds
without a box the attempt ends with ``max_rounds`` and the last round's fallback
extraction (answer phrase / last number).

Every round is a "solve" call with ``step=round``; summaries are the method's own output
too, so they count in ``tok_paper`` and Tpi (tok_paper / rounds). Why 8 x 8192 + 4096 by
default: docs/fidelity.md (InftyThink row). ``summary_system`` may differ from ``system``: a
hybrid model summarises with thinking off (its systems file says ``summary_system: s1``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scale.checks import Positive, check_args
from scale.data.problem import Problem
from scale.grading.extract import extract_answer
from scale.ledger import Ledger
from scale.methods.base import Attempt, Context, Method, Mode, finish_failures
from scale.prompts import Prompts

_BOXED_KINDS = frozenset({"boxed", "boxed_last_of_n", "fbox"})
TRACE_SUMMARY_CHARS = 300  # how much of each summary the trace keeps
SUMMARY_SALT = 100  # seed salt of round r's summary call: SUMMARY_SALT + r


@dataclass(frozen=True)
class Summary:
    text: str
    source: str  # "summary" | "tail_summary_reasoning" | "tail_partial" | "empty"

    @property
    def written(self) -> bool:
        """The summary call answered with visible text (no fallback)."""
        return self.source == "summary"


def pick_summary(visible: str, reasoning: str, partial: str, max_chars: int) -> Summary:
    """The summary call's visible text (first ``max_chars``); without one, the tail of its
    thought, else the tail of the partial reasoning it was asked to summarise."""
    if visible.strip():
        return Summary(visible.strip()[:max_chars].strip(), "summary")
    for text, source in ((reasoning, "tail_summary_reasoning"), (partial, "tail_partial")):
        if text.strip():
            return Summary(text.strip()[-max_chars:].strip(), source)
    return Summary("", "empty")


def _short(text: str, n: int = TRACE_SUMMARY_CHARS) -> str:
    return text if len(text) <= n else text[:n] + "…"


class InftyThink(Method):
    name = "inftythink"

    @check_args("method")
    def __init__(self, max_rounds: Positive = 8, segment_tokens: Positive = 8192, summary_tokens: Positive = 4096,
                 system: Mode = "s2", summary_system: Mode | None = None, summary_chars: Positive = 8000,
                 prompts: Mapping[str, Any] | Prompts | None = None) -> None:
        self.max_rounds = max_rounds
        self.segment_tokens = segment_tokens
        self.summary_tokens = summary_tokens
        self.system = system
        self.summary_system = summary_system or system
        self.summary_chars = summary_chars
        self.prompts = Prompts.from_config(prompts, "method.prompts")

    @property
    def uses_systems(self) -> set[str]:
        return {self.system, self.summary_system}

    async def summarize(self, problem: Problem, sample_idx: int, partial: str, r: int, ctx: Context,
                        ledger: Ledger) -> tuple[Summary, int, str]:
        """Round ``r``'s summary: (summary, its call's response tokens, its finish reason)."""
        system = getattr(ctx.systems, self.summary_system)
        prompt = self.prompts.fill("infty_summarize", question=problem.question, partial=partial)
        overrides: dict[str, Any] = {"max_new_tokens": self.summary_tokens}
        if not system.config.sampling.greedy:
            overrides["seed"] = ctx.seed_for(problem, sample_idx, salt=SUMMARY_SALT + r)
        c = await system.ask([{"role": "user", "content": prompt}], stage="summarize", ledger=ledger,
                             **overrides)
        return pick_summary(c.text, c.reasoning, partial, self.summary_chars), c.response_tokens, c.finish_reason

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
                prompt = self.prompts.fill("infty_first", question=problem.question)
            else:
                prompt = self.prompts.fill("infty_next", question=problem.question, summary=summary)
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
            if c.finish_reason == "context_overflow":
                failures.append("context_overflow")
                break  # the question (and summary) fill the window: no round can run
            if boxed or r + 1 == self.max_rounds:  # a summary is only needed when a round follows
                break
            partial = "\n\n".join(t for t in (c.reasoning.strip(), c.text.strip()) if t)
            s, tokens, finish = await self.summarize(problem, sample_idx, partial, r, ctx, ledger)
            if not s.written:
                failures.append("summary_missing")
            failures += finish_failures(finish, truncated=None)  # a summary is capped by design
            info.update(summary_out=_short(s.text), summary_source=s.source, summary_chars=len(s.text),
                        summary_tokens=tokens, summary_finish_reason=finish)
            summary = s.text
        if not boxed and len(rounds) == self.max_rounds:
            failures.append("max_rounds")
        if answer is None:
            failures.append("no_answer")
        trace = {
            "system": self.system,
            "summary_system": self.summary_system,
            "max_rounds": self.max_rounds,
            "segment_tokens": self.segment_tokens,
            "summary_tokens": self.summary_tokens,
            "n_rounds": len(rounds),
            "boxed": boxed,
            "rounds": rounds,
        }
        return Attempt(answer=answer, response=response, trace=trace, ledger=ledger,
                       failures=failures)
