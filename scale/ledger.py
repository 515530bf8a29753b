"""Cost ledger: one entry per model call, and the per-problem figures derived from it.

Definitions (also in the README):
- ``tok_paper``: response tokens of the solving calls (System 1 + System 2 steps; an
  InftyThink round's summary too) — this project's reading of the paper's Tok.
  ``tpi``: tok_paper / number of solved steps.
- ``tok_total``: every response token, outlines, selection and scoring included.
- ``prompt_tokens``: every prompt token (prefill cost).
- ``s2_fraction``: share of solved steps routed to System 2.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# A method's own output: the steps (rounds) and InftyThink's summaries between rounds.
SOLVING_STAGES = frozenset({"solve", "summarize"})


@dataclass
class Call:
    stage: str  # decompose | select | score | solve | split | judge ...
    mode: str  # "s1" | "s2" | "classifier"
    system: str
    prompt_tokens: int
    response_tokens: int
    reasoning_tokens: int
    seconds: float
    finish_reason: str
    step: int | None = None


@dataclass
class Ledger:
    calls: list[Call] = field(default_factory=list)

    def add(self, call: Call) -> None:
        self.calls.append(call)

    def to_list(self) -> list[dict[str, Any]]:
        return [asdict(c) for c in self.calls]

    @classmethod
    def from_list(cls, rows: list[dict[str, Any]]) -> Ledger:
        return cls([Call(**r) for r in rows])

    def summary(self) -> dict[str, Any]:
        """Per-attempt cost figures (see module docstring)."""
        solve = [c for c in self.calls if c.stage in SOLVING_STAGES]
        steps = [c for c in solve if c.step is not None]
        n_steps = len({c.step for c in steps}) or len(solve)
        tok_paper = sum(c.response_tokens for c in solve)
        by_stage: dict[str, dict[str, float]] = {}
        for c in self.calls:
            s = by_stage.setdefault(c.stage, {"calls": 0, "response_tokens": 0, "prompt_tokens": 0,
                                              "reasoning_tokens": 0, "seconds": 0.0})
            s["calls"] += 1
            s["response_tokens"] += c.response_tokens
            s["prompt_tokens"] += c.prompt_tokens
            s["reasoning_tokens"] += c.reasoning_tokens
            s["seconds"] += c.seconds
        s2_steps = [c for c in steps if c.mode == "s2"]
        return {
            "tok_paper": tok_paper,
            "tpi": tok_paper / n_steps if n_steps else 0.0,
            "tok_total": sum(c.response_tokens for c in self.calls),
            "prompt_tokens": sum(c.prompt_tokens for c in self.calls),
            "reasoning_tokens": sum(c.reasoning_tokens for c in self.calls),
            "n_calls": len(self.calls),
            "n_steps": n_steps,
            "s2_steps": len(s2_steps) if steps else sum(c.mode == "s2" for c in solve),
            "seconds": sum(c.seconds for c in self.calls),
            "truncated": sum(c.finish_reason == "length" for c in self.calls),
            "by_stage": by_stage,
        }
