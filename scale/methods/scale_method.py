"""SCALE: decompose, rate each step, route hard steps to System 2, solve in order.

1. Decomposition: K sampled System 1 outlines (JSON steps) + a selection call; the
   chosen outline's last step is replaced by the problem's own question.
2. Difficulty: a score in [0, 1] per step, all computed before solving (last step
   pinned at ``last_step_score``, as the authors do; ``null`` scores it too).
3. Routing: the router decides System 1 or System 2 per step.
4. Execution: each step sees the conditions (the data's ``condition``, else the whole
   problem statement), the earlier steps with what ``carry`` carries (their visible text,
   or only their extracted answers; never their thinking) and answers in ``\\boxed{}``;
   the last step's answer is the answer.
If no outline parses after re-sampling, the fallback is one step = the whole problem,
rated hard (1.0, so System 2 under a threshold router; counted as ``outline_fallback``).

The stages are public phases, so other procedures can reuse them: :meth:`Scale.plan`
(stages 1-2, no solving), :meth:`Scale.route`, :meth:`Scale.solve_step` (one step on a
chosen system, given the steps solved before it), :meth:`Scale.execute` (every step on
its route) and :meth:`Scale.attempt` (the record's answer, trace and failures).
``run`` is these in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from scale.build import build
from scale.checks import NonNegative, OneOf, Positive, ZeroToOne, check_args
from scale.data.problem import Problem
from scale.difficulty import DifficultyScorer, StepScore
from scale.grading.extract import extract_answer
from scale.ledger import Ledger
from scale.methods.base import Attempt, Context, Method, finish_failures
from scale.methods.decompose import Decomposition, decompose
from scale.methods.probe import probe_attempt
from scale.parsing import split_condition_question
from scale.prompts import Prompts
from scale.routing import Router, attempt_key

DEFAULT_SCORER = {"_target_": "scale.difficulty.prompted.PromptedScorer", "name": "prompted"}
DEFAULT_ROUTER = {"_target_": "scale.routing.ThresholdRouter", "name": "threshold", "tau": 0.5}
CARRY = ("visible", "answer")
SPLITS = ("rule", "model")
SOLVE_SALT = 1000  # seed salt of step i's solve call: SOLVE_SALT + i (either system)
SCORE_SALT = 500


@dataclass
class Plan:
    """Everything SCALE decides before it solves anything: outline, question, scores."""

    problem: Problem
    sample_idx: int
    condition: str  # the givens every step sees
    condition_source: str  # "data" (the file's condition field) | "problem" (the whole statement)
    question: str  # the final question: the last step, unless the outline fell back
    steps: list[str]
    scores: list[StepScore]
    fallback: bool
    decomposition: Decomposition
    failures: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        """The attempt's name for routers and matched runs: ``problem_id|sample_idx``."""
        return attempt_key(self.problem.id, self.sample_idx)


@dataclass
class SolvedStep:
    """One step's solve call: what it answered, on which system, and how it ended."""

    index: int
    step: str
    mode: str  # "s1" | "s2"
    visible: str  # the reply without its thinking
    answer: str | None
    reasoning_chars: int
    finish_reason: str
    how: str = ""  # the extraction rule that found ``answer`` (scale.grading.extract: "boxed", ...)

    @property
    def failures(self) -> list[str]:
        return finish_failures(self.finish_reason, truncated="step_truncated")


class Scale(Method):
    name = "scale"

    @check_args("method")
    def __init__(self, n_outlines: Positive = 8, outline_temperature: float = 0.7,
                 outline_max_tokens: int = 1024, resample_rounds: NonNegative = 2, max_steps: Positive = 12,
                 select: bool = True, replace_last_step: bool = True, last_step_score: ZeroToOne | None = 0.9,
                 last_step_s2: bool = False, carry: Annotated[str, OneOf(CARRY)] = "visible",
                 max_carry_chars: Positive | None = None, split: Annotated[str, OneOf(SPLITS)] = "rule",
                 difficulty: Mapping[str, Any] | DifficultyScorer | None = None,
                 router: Mapping[str, Any] | Router | None = None,
                 prompts: Mapping[str, Any] | Prompts | None = None, probe: bool = False) -> None:
        self.n_outlines = n_outlines
        self.outline_temperature = outline_temperature
        self.outline_max_tokens = outline_max_tokens
        self.resample_rounds = resample_rounds
        self.max_steps = max_steps
        self.select = select
        self.replace_last_step = replace_last_step
        self.last_step_score = last_step_score
        # The step that answers the question thinks whatever the router's threshold: a learned
        # scorer's own tau may be >= the pinned score, which would send it to greedy System 1.
        self.last_step_s2 = bool(last_step_s2)
        self.carry = carry
        self.max_carry_chars = max_carry_chars
        self.split = split
        self.probe = probe  # every step on both systems, labelled (scale.methods.probe)
        self.prompts = Prompts.from_config(prompts, "method.prompts")
        self.scorer = build(difficulty or DEFAULT_SCORER, "difficulty")
        self.router = build(router or DEFAULT_ROUTER, "router")
        self.router.bind(self.scorer)

    @property
    def dataset_wide(self) -> bool:
        return self.router.dataset_wide

    def prepare(self, problems: list[Problem], n_samples: int, ctx: Context) -> None:
        self.router.expect(ctx.n_attempts or len(problems) * n_samples)
        self.router.check_run([p.id for p in problems], n_samples)

    def abandon(self, problem: Problem, sample_idx: int) -> None:
        self.router.withdraw(attempt_key(problem.id, sample_idx))

    # -- stages 1-2: plan ----------------------------------------------------------------
    async def final_question(self, problem: Problem, ledger: Ledger, ctx: Context) -> tuple[str, bool]:
        """The question the last step answers, and whether a model split fell back to the rule.

        The data's own final question when it has one; else the rule split's last question
        sentence, or (split=model) a System 1 copy of it, accepted only if it occurs
        verbatim in the problem (else the rule's, counted as ``split_fallback``).
        """
        given = getattr(problem, "final_question", None)
        if given:
            return given, False
        rule = split_condition_question(problem.question).question or problem.question
        if self.split != "model":
            return rule, False
        reply = await ctx.systems.s1.ask(
            [{"role": "user", "content": self.prompts.fill("split_user", question=problem.question)}],
            stage="split", ledger=ledger, temperature=0.0, max_new_tokens=128)
        sentence = reply.text.strip().strip('"').strip()
        # Anywhere in the problem, the start included: the condition is the whole problem now,
        # so a question that opens the problem loses nothing.
        if sentence and problem.question.find(sentence) >= 0:
            return sentence, False
        return rule, True

    async def plan(self, problem: Problem, sample_idx: int, ctx: Context, ledger: Ledger) -> Plan:
        """Stages 1-2: the outline (last step = the question) and every step's score.

        The condition shown to every step is the data's ``condition`` when the file has
        one, else the whole problem statement: a rule split cannot tell which givens live
        in the question sentence ("Find the remainder when 2^100 is divided by 7").
        """
        question, split_failed = await self.final_question(problem, ledger, ctx)
        dec = await decompose(
            problem.question, ctx, ledger, lambda i: ctx.seed_for(problem, sample_idx, i),
            prompts=self.prompts, n_outlines=self.n_outlines, temperature=self.outline_temperature,
            max_new_tokens=self.outline_max_tokens, max_rounds=self.resample_rounds,
            max_steps=self.max_steps, select=self.select)
        failures = list(dec.failures) + (["split_fallback"] if split_failed else [])
        fallback = not dec.steps
        steps = list(dec.steps) or [problem.question]
        if self.replace_last_step and not fallback:
            steps[-1] = question
        if fallback:
            scores = [StepScore(1.0, "fallback")]
        else:
            to_score = steps if self.last_step_score is None else steps[:-1]
            scores = []
            if to_score:
                seed = ctx.seed_for(problem, sample_idx, SCORE_SALT)
                scores = list(await self.scorer.score(problem.question, to_score, ctx, ledger, seed=seed))
            if self.last_step_score is not None:
                scores.append(StepScore(self.last_step_score, "fixed"))
            failures += ["score_parse"] * sum(s.how == "failed" for s in scores)
            failures += ["score_lenient"] * sum(s.lenient for s in scores)
        condition_source = "data" if problem.condition else "problem"
        return Plan(problem=problem, sample_idx=sample_idx, condition=problem.condition or problem.question,
                    condition_source=condition_source, question=question, steps=steps, scores=scores,
                    fallback=fallback, decomposition=dec, failures=failures)

    # -- stage 3: route ------------------------------------------------------------------
    async def route(self, plan: Plan) -> list[bool]:
        """System 2 (True) or System 1 per step. The fallback step is rated hard (1.0) and
        routed like any fixed step, so the uniform routers stay uniform. ``last_step_s2``
        sends the last step to System 2 by rule, whatever the router decided."""
        routes = list(await self.router.route(plan.key, plan.scores))
        if self.last_step_s2 and routes:
            routes[-1] = True
        return routes

    # -- stage 4: solve ------------------------------------------------------------------
    def carried(self, step: SolvedStep) -> str:
        """What a later step sees of an earlier one (``method.carry``)."""
        if self.carry == "answer":
            return step.answer if step.answer is not None else self.prompts.fill("solve_no_answer")
        return step.visible if self.max_carry_chars is None else step.visible[-self.max_carry_chars:]

    def solve_messages(self, plan: Plan, i: int, solved: Sequence[SolvedStep],
                       system_prompt: bool = True) -> list[dict[str, str]]:
        """Step ``i``'s messages given the steps solved before it (``solved``, in order).

        ``system_prompt=False`` leaves out the method's system message (a system with its
        own ``system_prompt`` gets that one instead).
        """
        p = self.prompts
        process = p.fill("solve_process_join").join(
            p.fill("solve_process_step", index=j + 1, step=s.step, answer=self.carried(s))
            for j, s in enumerate(solved))
        messages = p.chat("solve_system", "solve_user", condition=plan.condition,
                          process=process or p.fill("solve_process_none"), step=plan.steps[i])
        return messages if system_prompt else [m for m in messages if m["role"] != "system"]

    async def solve_step(self, plan: Plan, i: int, system: str, solved: Sequence[SolvedStep],
                         ctx: Context, ledger: Ledger) -> SolvedStep:
        """Solve step ``i`` on ``system`` ("s1" | "s2") after ``solved`` (steps 0..i-1).

        The seed depends on the step, not the system, so a step solved on both systems
        (a probe) draws from the same seed.
        """
        sys_ = ctx.systems.s2 if system == "s2" else ctx.systems.s1
        messages = self.solve_messages(plan, i, solved, system_prompt=not sys_.config.system_prompt)
        overrides = {} if sys_.config.sampling.greedy else {
            "seed": ctx.seed_for(plan.problem, plan.sample_idx, SOLVE_SALT + i)}
        c = await sys_.ask(messages, stage="solve", ledger=ledger, step=i, **overrides)
        extraction = extract_answer(c.text)
        return SolvedStep(index=i, step=plan.steps[i], mode=sys_.mode, visible=c.text,
                          answer=extraction.answer, reasoning_chars=len(c.reasoning),
                          finish_reason=c.finish_reason, how=extraction.how)

    async def execute(self, plan: Plan, routes: Sequence[bool], ctx: Context, ledger: Ledger) -> list[SolvedStep]:
        """Every step in order on its route, each seeing the ones before it."""
        solved: list[SolvedStep] = []
        for i, to_s2 in enumerate(routes):
            solved.append(await self.solve_step(plan, i, "s2" if to_s2 else "s1", solved, ctx, ledger))
        return solved

    def attempt(self, plan: Plan, solved: Sequence[SolvedStep], ledger: Ledger) -> Attempt:
        """The attempt's answer (the last step's), trace and failures."""
        failures = list(plan.failures) + [f for s in solved for f in s.failures]
        answer = solved[-1].answer if solved else None
        if answer is None:
            failures.append("no_answer")
        steps = [{"step": s.step, "mode": s.mode, "visible": s.visible, "answer": s.answer,
                  "score": sc.value, "score_how": sc.how, "score_tries": sc.tries, "fixed": sc.fixed,
                  "reasoning_chars": s.reasoning_chars, "finish_reason": s.finish_reason}
                 for s, sc in zip(solved, plan.scores)]
        dec = plan.decomposition
        trace = {
            "condition": plan.condition, "condition_source": plan.condition_source,
            "question": plan.question, "fallback": plan.fallback, "carry": self.carry,
            "outlines": dec.candidates, "chosen": dec.chosen, "unparsed_outlines": dec.raw_failures,
            **dec.trace, "steps": steps,
        }
        return Attempt(answer=answer, response=solved[-1].visible if solved else "", trace=trace,
                       ledger=ledger, failures=failures)

    async def run(self, problem: Problem, sample_idx: int, ctx: Context) -> Attempt:
        if self.probe:
            return await probe_attempt(self, problem, sample_idx, ctx)
        ledger = Ledger()
        plan = await self.plan(problem, sample_idx, ctx, ledger)
        routes = await self.route(plan)
        solved = await self.execute(plan, routes, ctx, ledger)
        return self.attempt(plan, solved, ledger)
