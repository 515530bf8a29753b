"""SCALE's probe mode (``method.probe=true``): measured difficulty labels for the classifier.

    scale-eval method=scale method.probe=true data=gsm8k data.name=gsm8k_train data.limit=500 run_dir=runs/probe

The plan (outline, scores) and the route are SCALE's own (:meth:`Scale.plan`,
:meth:`Scale.route`). Then every step is solved on BOTH systems from the same context:
the earlier steps as System 2 answered them (the reference path, carried forward as
``method.carry`` says), with the same seed. The last step is first judged against the gold
(when the problem has one): easy (0) when System 1's answer is right, hard (1) when it is
wrong and System 2's right. Otherwise a step is labelled

- unlabelled (null) when System 2 gave no answer (nothing to compare with);
- hard (1) when System 1 gave no answer where System 2 did;
- unlabelled (null) when the two answers were not both found in a ``\boxed{}`` (one read
  from an answer phrase or the last expression is a guess at the answer, and two different
  guesses would read as "hard");
- hard (1) when System 1's answer is not equivalent to System 2's (the grader's
  equivalence); easy (0) when they agree.

The attempt's answer is the reference path's (System 2 on every step). System 1's probe
calls are in the ledger under stage ``probe`` (so ``tok_paper`` is the reference path's);
each step of the trace carries ``probe`` (both answers, the verdicts, the label, why) and
``routed`` (what SCALE's router chose). ``scripts/build_traces.py`` turns such runs into the
classifier's training data.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Any

from scale.errors import ConfigError
from scale.grading import grade_answer
from scale.ledger import Ledger
from scale.methods.base import Attempt, Context

if TYPE_CHECKING:
    from scale.data.problem import Problem
    from scale.methods.scale_method import Scale, SolvedStep

PROBE_STAGE = "probe"


async def _equivalent(ctx: Context, reference: str | None, candidate: str | None) -> tuple[bool | None, str]:
    """System 1's answer against System 2's: None (no verdict) when either is missing."""
    if reference is None or candidate is None:
        return None, "no_answer"
    return await grade_answer(ctx.grader, candidate, reference)


BOXED = frozenset({"boxed", "boxed_last_of_n", "fbox"})  # extract_answer kinds read from a box


def label_of(equivalent: bool | None, s1: str | None, s2: str | None, s1_correct: bool | None,
             s2_correct: bool | None, last: bool, s1_how: str | None = None,
             s2_how: str | None = None) -> tuple[int | None, str]:
    """The step's label (1 hard, 0 easy, None unlabelled) and the reason (module docstring).

    ``s1_how`` / ``s2_how``: the extraction rule of each answer (None: not known, not checked).
    """
    if last and s1_correct is not None and s2_correct is not None:  # the gold outranks System 2
        if s1_correct:
            return 0, "s1_correct"
        if s2_correct:
            return 1, "s1_wrong_s2_right"
    if s2 is None:
        return None, "s2_no_answer"
    if s1 is None:
        return 1, "s1_no_answer"
    if (s1_how is not None or s2_how is not None) and not (s1_how in BOXED and s2_how in BOXED):
        return None, "not_both_boxed"
    if not equivalent:
        return 1, "s1_differs"
    return 0, "agree"


async def probe_attempt(method: Scale, problem: Problem, sample_idx: int, ctx: Context) -> Attempt:
    """One probe attempt: SCALE's plan and route, then every step on both systems."""
    if ctx.grader is None:
        raise ConfigError("method.probe=true compares answers with the grader: run it through scale-eval "
                          "(the runner provides one), or give Context(grader=Grader())")
    ledger = Ledger()
    plan = await method.plan(problem, sample_idx, ctx, ledger)
    routes = await method.route(plan)
    reference: list[SolvedStep] = []
    probes: list[dict[str, Any]] = []
    last = len(plan.steps) - 1
    for i in range(len(plan.steps)):
        side = Ledger()  # System 1's probe calls, relabelled below
        s1, s2 = await asyncio.gather(method.solve_step(plan, i, "s1", reference, ctx, side),
                                      method.solve_step(plan, i, "s2", reference, ctx, ledger))
        for call in side.calls:
            ledger.add(dataclasses.replace(call, stage=PROBE_STAGE))
        equivalent, reason = await _equivalent(ctx, s2.answer, s1.answer)
        s1_correct = s2_correct = None
        if i == last:
            s1_correct = (await grade_answer(ctx.grader, s1.answer, problem.answer))[0]
            s2_correct = (await grade_answer(ctx.grader, s2.answer, problem.answer))[0]
        label, why = label_of(equivalent, s1.answer, s2.answer, s1_correct, s2_correct, i == last,
                              s1.how, s2.how)
        probes.append({"s1": {"answer": s1.answer, "how": s1.how, "visible": s1.visible,
                              "finish_reason": s1.finish_reason},
                       "s2": {"answer": s2.answer, "how": s2.how, "finish_reason": s2.finish_reason,
                              "reasoning_chars": s2.reasoning_chars},
                       "equivalent": equivalent, "equivalence": reason, "s1_correct": s1_correct,
                       "s2_correct": s2_correct, "label": label, "why": why})
        reference.append(s2)
    attempt = method.attempt(plan, reference, ledger)
    for step, probe, to_s2 in zip(attempt.trace["steps"], probes, routes):
        step["probe"] = probe
        step["routed"] = "s2" if to_s2 else "s1"
    attempt.trace["probe"] = {"reference": "s2", "labelled": sum(p["label"] is not None for p in probes),
                              "hard": sum(p["label"] == 1 for p in probes)}
    return attempt
