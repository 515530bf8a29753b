"""Majority voting (self-consistency): k sampled solutions, the most common answer wins.

The paper's MajVote baseline: 8 samples on one system, answers grouped by mathematical
equivalence (the grader), the largest group's representative is the answer (ties: the
group that appeared first). Every sample is a "solve" call, so the paper's Tok is k x CoT.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from scale.data.problem import Problem
from scale.engine.types import Completion
from scale.errors import ConfigError
from scale.grading.extract import extract_answer
from scale.ledger import Ledger
from scale.methods.base import Attempt, Context, Method, check_system, finish_failures
from scale.prompts import Prompts

log = logging.getLogger(__name__)

Equivalent = Callable[[str, str], Any]  # bool, or (bool, reason) like Grader.equivalent


def exact_equivalent(a: str, b: str) -> bool:
    """Fallback equivalence when no grader is available: equal after stripping."""
    return a.strip() == b.strip()


def group_answers(answers: Sequence[str | None], equivalent: Equivalent) -> list[list[int]]:
    """Group answer indices by ``equivalent(representative, answer)``; ``None`` is left out.

    Groups are in order of first appearance; a group's representative is its first member.
    Each answer joins the first group whose representative it matches. ``equivalent`` may
    return a bool or a ``(bool, reason)`` pair (``Grader.equivalent``).
    """
    groups: list[list[int]] = []
    for i, ans in enumerate(answers):
        if ans is None:
            continue
        for group in groups:
            rep = answers[group[0]]
            assert rep is not None
            same = rep.strip() == ans.strip() or _truth(equivalent(rep, ans))
            if same:
                group.append(i)
                break
        else:
            groups.append([i])
    return groups


def _truth(result: bool | tuple[bool, str]) -> bool:
    return bool(result[0]) if isinstance(result, tuple) else bool(result)


def winning_group(groups: list[list[int]]) -> list[int] | None:
    """The largest group; ties go to the group that appeared first (``max`` keeps the first)."""
    return max(groups, key=len) if groups else None


class Majority(Method):
    name = "majority"

    def __init__(self, k: int = 8, system: str = "s2", prompts: Mapping[str, Any] | Prompts | None = None) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"method.k must be an integer >= 1, got {k!r}")
        self.k = k
        self.system = check_system(system)
        self.prompts = Prompts.from_config(prompts, "method.prompts")
        self._warned_greedy = False

    async def run(self, problem: Problem, sample_idx: int, ctx: Context) -> Attempt:
        system = getattr(ctx.systems, self.system)
        greedy = system.config.sampling.greedy
        if greedy and self.k > 1 and not self._warned_greedy:
            self._warned_greedy = True
            log.warning("majority: system %s decodes greedily, so its %d samples will agree; "
                        "give it a temperature > 0", self.system, self.k)
        seeds = [ctx.seed_for(problem, sample_idx, salt=i) for i in range(self.k)]
        messages = self.prompts.chat("cot_system", "cot_user", question=problem.question)
        # One ledger per sample, merged in sample order, so records do not depend on which
        # call finished first.
        ledgers = [Ledger() for _ in range(self.k)]

        async def sample(i: int) -> Completion:
            return await system.ask(messages, stage="solve", ledger=ledgers[i], seed=seeds[i])

        completions = await asyncio.gather(*(sample(i) for i in range(self.k)))
        ledger = Ledger()
        for sub in ledgers:
            ledger.calls.extend(sub.calls)

        answers = [extract_answer(c.text).answer for c in completions]
        grader = ctx.grader
        equivalent: Equivalent = grader.equivalent if grader is not None else exact_equivalent
        groups = await asyncio.to_thread(group_answers, answers, equivalent)
        best = winning_group(groups)

        failures: list[str] = []
        if best is None:
            failures.append("no_answer")
            answer, response = None, completions[0].text
        else:
            answer, response = answers[best[0]], completions[best[0]].text
        failures.extend(f for c in completions for f in finish_failures(c.finish_reason))
        trace: dict[str, Any] = {
            "system": self.system,
            "k": self.k,
            "seeds": seeds,
            "greedy": greedy,
            "answers": answers,
            "groups": groups,
            "group_sizes": [len(g) for g in groups],
            "group_answers": [answers[g[0]] for g in groups],
            "winner": None if best is None else groups.index(best),
            "vote_share": len(best) / self.k if best is not None else 0.0,
            "n_answered": sum(a is not None for a in answers),
            "equivalence": "grader" if grader is not None else "exact",
            "finish_reasons": [c.finish_reason for c in completions],
        }
        return Attempt(answer=answer, response=response, trace=trace, ledger=ledger,
                       failures=failures)
