"""Zero-shot chain of thought on one system (uniform S1 or uniform S2)."""

from __future__ import annotations

from scale.data.problem import Problem
from scale.ledger import Ledger
from scale.methods.base import Attempt, Context, Method, answer_of, check_system
from scale.prompts import COT_USER


class CoT(Method):
    name = "cot"

    def __init__(self, system: str = "s2") -> None:
        self.system = check_system(system)

    async def run(self, problem: Problem, sample_idx: int, ctx: Context) -> Attempt:
        system = getattr(ctx.systems, self.system)
        ledger = Ledger()
        overrides = {} if system.config.sampling.greedy else {"seed": ctx.seed_for(problem, sample_idx)}
        c = await system.ask([{"role": "user", "content": COT_USER.format(question=problem.question)}],
                             stage="solve", ledger=ledger, **overrides)
        answer, failures = answer_of(c.text)
        if c.finish_reason == "length":
            failures.append("truncated")
        return Attempt(answer=answer, response=c.text, ledger=ledger, failures=failures,
                       trace={"system": self.system, "reasoning_chars": len(c.reasoning)})
