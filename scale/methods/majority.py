"""Majority voting (self-consistency): k sampled solutions, the most common answer wins.

The paper's MajVote baseline: 8 samples on one system, answers grouped by mathematical
equivalence (the grader), the largest group's representative is the answer (ties: the
group that appeared first). Every sample is a "solve" call, so the paper's Tok is k x CoT.

``from_run=RUN_DIR`` votes over a finished CoT run's records instead of sampling anew: attempt
``s`` of a problem takes that run's samples ``s*k .. s*k+k-1`` (their answers, and their calls
as its ledger), so MajVote and CoT are paired as in the paper (its MajVote Tok is exactly 8x
CoT's) and no model is loaded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from scale.checks import Positive, check_args
from scale.data.problem import Problem
from scale.engine.types import Completion
from scale.errors import ConfigError, DataError
from scale.grading.extract import extract_answer
from scale.ledger import Call, Ledger
from scale.methods.base import Attempt, Context, Method, Mode, finish_failures
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

    @check_args("method")
    def __init__(self, k: Positive = 8, system: Mode = "s2", prompts: Mapping[str, Any] | Prompts | None = None,
                 from_run: str | None = None) -> None:
        self.k = k
        self.system = system
        self.prompts = Prompts.from_config(prompts, "method.prompts")
        self._warned_greedy = False
        if from_run is not None and not (isinstance(from_run, str) and from_run.strip()):
            raise ConfigError(f"method.from_run must name a CoT run directory, got {from_run!r}")
        self.from_run = from_run or None
        self._cot: dict[tuple[str, int], Any] = {}  # (problem id, sample) -> that CoT run's record

    @property
    def uses_systems(self) -> set[str]:
        return set() if self.from_run else {self.system}

    def prepare(self, problems: list[Problem], n_samples: int, ctx: Context) -> None:
        if self.from_run:
            self._cot = read_cot_run(self.from_run, problems, n_samples * self.k, self.system)

    async def run(self, problem: Problem, sample_idx: int, ctx: Context) -> Attempt:
        if self.from_run:
            return await self._vote_over_run(problem, sample_idx, ctx)
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
        best, vote = await self._vote(answers, ctx.grader)

        failures: list[str] = []
        if best is None:
            failures.append("no_answer")
            answer, response = None, completions[0].text
        else:
            answer, response = answers[best[0]], completions[best[0]].text
        failures.extend(f for c in completions for f in finish_failures(c.finish_reason))
        trace = {"system": self.system, "k": self.k, "seeds": seeds, "greedy": greedy,
                 **vote, "finish_reasons": [c.finish_reason for c in completions]}
        return Attempt(answer=answer, response=response, trace=trace, ledger=ledger,
                       failures=failures)

    async def _vote_over_run(self, problem: Problem, sample_idx: int, ctx: Context) -> Attempt:
        """The vote over samples ``sample_idx*k ..`` of the CoT run (``prepare`` read them)."""
        indices = [sample_idx * self.k + i for i in range(self.k)]
        records = [self._cot[(problem.id, i)] for i in indices]
        answers = [None if r.error is not None else r.answer for r in records]
        ledger = Ledger()
        for r in records:
            ledger.calls.extend(Call(**c) for c in r.ledger)
        best, vote = await self._vote(answers, ctx.grader)
        failures = [] if best is not None else ["no_answer"]
        answer = None if best is None else answers[best[0]]
        response = records[0 if best is None else best[0]].response
        failures += [f for c in ledger.calls for f in finish_failures(c.finish_reason)]  # as when sampling
        failures += ["cot_error"] * sum(r.error is not None for r in records)
        trace = {"system": self.system, "k": self.k, "from_run": self.from_run, "cot_samples": indices, **vote}
        return Attempt(answer=answer, response=response, trace=trace, ledger=ledger, failures=failures)

    async def _vote(self, answers: list[str | None], grader: Any) -> tuple[list[int] | None, dict[str, Any]]:
        """The winning group of ``answers`` (None: no answer) and the vote's trace fields,
        sampled or read from a CoT run alike."""
        equivalent: Equivalent = grader.equivalent if grader is not None else exact_equivalent
        groups = await asyncio.to_thread(group_answers, answers, equivalent)
        best = winning_group(groups)
        return best, {
            "answers": answers,
            "groups": groups,
            "group_sizes": [len(g) for g in groups],
            "group_answers": [answers[g[0]] for g in groups],
            "winner": None if best is None else groups.index(best),
            "vote_share": len(best) / self.k if best is not None else 0.0,
            "n_answered": sum(a is not None for a in answers),
            "equivalence": "grader" if grader is not None else "exact",
        }


def read_cot_run(path: str, problems: list[Problem], needed: int, system: str) -> dict[tuple[str, int], Any]:
    """The records of CoT run ``path`` that ``problems`` vote over: samples 0..needed-1 of each.

    Refused in one line: a folder that is not a run, a run of another method or system, a run
    with fewer samples, or one that lacks a problem or asked it in other words (other data).
    """
    from scale.rundir import RunDir

    run = RunDir(path)
    if not run.path.is_dir():
        raise ConfigError(f"method.from_run: no run directory {path}")
    cfg = run.read_config()
    method = cfg.get("method") or {}
    if method.get("name") != "cot" or method.get("system") != system:
        raise ConfigError(f"method.from_run: {path} is a run of method {method.get('name')!r} on "
                          f"{method.get('system')!r}; MajVote votes over a CoT run on {system!r}")
    ran = cfg.get("n_samples")
    if isinstance(ran, int) and ran < needed:
        raise ConfigError(f"method.from_run: {path} ran n_samples={ran}; voting over method.k x n_samples "
                          f"= {needed} samples per problem needs that many")
    records = run.collect().records
    out: dict[tuple[str, int], Any] = {}
    for problem in problems:
        for i in range(needed):
            rec = records.get((problem.id, i))
            if rec is None:
                raise DataError(f"method.from_run: {path} has no record of problem {problem.id!r} sample {i} "
                                "(finish that run first, or vote over a run of the same data)")
            if rec.question != problem.question:
                raise DataError(f"method.from_run: {path} asked problem {problem.id!r} in other words "
                                "(a run of other data)")
            out[(problem.id, i)] = rec
    return out
