"""Zero-shot chain of thought on one system (uniform S1 or uniform S2)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scale.checks import check_args
from scale.data.problem import Problem
from scale.ledger import Ledger
from scale.methods.base import Attempt, Context, Method, Mode, answer_of, finish_failures
from scale.prompts import Prompts


class CoT(Method):
    name = "cot"

    @check_args("method")
    def __init__(self, system: Mode = "s2", prompts: Mapping[str, Any] | Prompts | None = None) -> None:
        self.system = system
        self.prompts = Prompts.from_config(prompts, "method.prompts")

    async def run(self, problem: Problem, sample_idx: int, ctx: Context) -> Attempt:
        system = getattr(ctx.systems, self.system)
        ledger = Ledger()
        overrides = {} if system.config.sampling.greedy else {"seed": ctx.seed_for(problem, sample_idx)}
        messages = self.prompts.chat("cot_system", "cot_user", question=problem.question)
        c = await system.ask(messages, stage="solve", ledger=ledger, **overrides)
        answer, failures = answer_of(c.text)
        failures += finish_failures(c.finish_reason)
        return Attempt(answer=answer, response=c.text, ledger=ledger, failures=failures,
                       trace={"system": self.system, "reasoning_chars": len(c.reasoning),
                              "finish_reason": c.finish_reason})
