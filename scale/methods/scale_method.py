"""SCALE: decompose, rate each step, route hard steps to System 2, solve in order.

1. Decomposition: K sampled System 1 outlines (JSON steps) + a selection call; the
   chosen outline's last step is replaced by the problem's own question.
2. Difficulty: a score in [0, 1] per step, all computed before solving (last step
   pinned at ``last_step_score``, as the authors do; ``null`` scores it too).
3. Routing: the router decides System 1 or System 2 per step.
4. Execution: each step sees the conditions, the earlier steps with their visible
   answers (never their thinking) and answers in ``\\boxed{}``; the last step's box is
   the answer.
If no outline parses after re-sampling, the fallback is one step = the whole problem,
rated hard (1.0, so System 2 under a threshold router; counted as ``outline_fallback``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scale.build import build
from scale.data.problem import Problem
from scale.difficulty import DifficultyScorer, StepScore
from scale.errors import ConfigError
from scale.grading.extract import extract_answer
from scale.ledger import Ledger
from scale.methods.base import Attempt, Context, Method
from scale.methods.decompose import decompose
from scale.parsing import split_condition_question
from scale.prompts import SOLVE_SYSTEM, SPLIT_USER, STEP_USER
from scale.routing import Router

DEFAULT_SCORER = {"_target_": "scale.difficulty.prompted.PromptedScorer", "name": "prompted"}
DEFAULT_ROUTER = {"_target_": "scale.routing.ThresholdRouter", "name": "threshold", "tau": 0.5}


class Scale(Method):
    name = "scale"

    def __init__(self, n_outlines: int = 8, outline_temperature: float = 0.7,
                 outline_max_tokens: int = 1024, resample_rounds: int = 2, max_steps: int = 12,
                 select: bool = True, replace_last_step: bool = True, last_step_score: float | None = 0.9,
                 max_carry_chars: int = 4000, split: str = "rule",
                 difficulty: Mapping[str, Any] | DifficultyScorer | None = None,
                 router: Mapping[str, Any] | Router | None = None) -> None:
        if n_outlines < 1:
            raise ConfigError(f"method.n_outlines must be >= 1, got {n_outlines}")
        if split not in ("rule", "model"):
            raise ConfigError(f"method.split must be 'rule' or 'model', got {split!r}")
        if resample_rounds < 0:
            raise ConfigError(f"method.resample_rounds must be >= 0, got {resample_rounds}")
        if max_steps < 1:
            raise ConfigError(f"method.max_steps must be >= 1, got {max_steps}")
        if last_step_score is not None and not 0 <= last_step_score <= 1:
            raise ConfigError(f"method.last_step_score must be in [0, 1] or null, got {last_step_score}")
        self.n_outlines = n_outlines
        self.outline_temperature = outline_temperature
        self.outline_max_tokens = outline_max_tokens
        self.resample_rounds = resample_rounds
        self.max_steps = max_steps
        self.select = select
        self.replace_last_step = replace_last_step
        self.last_step_score = last_step_score
        self.max_carry_chars = max_carry_chars
        self.split = split
        self.scorer = build(difficulty or DEFAULT_SCORER, "difficulty")
        self.router = build(router or DEFAULT_ROUTER, "router")

    @property
    def dataset_wide(self) -> bool:
        return self.router.dataset_wide

    def prepare(self, problems: list[Problem], n_samples: int, ctx: Context) -> None:
        self.router.expect(ctx.n_attempts or len(problems) * n_samples)

    async def _split(self, problem: Problem, ledger: Ledger, ctx: Context) -> tuple[str, str, bool]:
        """Condition and final question: by rule, or (split=model) a System 1 call checked by rule.

        The model's sentence is accepted only if it occurs verbatim in the problem, so a
        paraphrase or hallucination falls back to the rule (counted as ``split_fallback``).
        """
        rule = split_condition_question(problem.question)
        condition = problem.condition or rule.condition
        question = rule.question or problem.question
        if self.split == "model":
            reply = await ctx.systems.s1.ask(
                [{"role": "user", "content": SPLIT_USER.format(question=problem.question)}],
                stage="split", ledger=ledger, temperature=0.0, max_new_tokens=128)
            sentence = reply.text.strip().strip('"').strip()
            at = problem.question.find(sentence) if sentence else -1
            if at > 0:
                return problem.condition or problem.question[:at].strip(), sentence, False
            return condition, question, True
        return condition, question, False

    async def run(self, problem: Problem, sample_idx: int, ctx: Context) -> Attempt:
        ledger = Ledger()
        condition, question, split_failed = await self._split(problem, ledger, ctx)
        dec = await decompose(
            problem.question, ctx, ledger, lambda i: ctx.seed_for(problem, sample_idx, i),
            n_outlines=self.n_outlines, temperature=self.outline_temperature,
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
            scores = await self.scorer.score(problem.question, to_score, ctx, ledger) if to_score else []
            if self.last_step_score is not None:
                scores.append(StepScore(self.last_step_score, "fixed"))
            failures += ["score_parse"] * sum(s.how == "failed" for s in scores)
        # The fallback step is rated hard (1.0) and routed like any step: System 2 under a
        # threshold router, System 1 under all_s1, so the extremes stay uniform.
        routes = await self.router.route(f"{problem.id}|{sample_idx}", [s.value for s in scores])
        solved: list[dict[str, Any]] = []
        final_text, answer = "", None
        for i, (step, to_s2) in enumerate(zip(steps, routes)):
            system = ctx.systems.s2 if to_s2 else ctx.systems.s1
            process = "\n\n".join(
                f"Step {j + 1}: {s['step']}\nAnswer: {s['visible'][-self.max_carry_chars:]}"
                for j, s in enumerate(solved)) or "(nothing yet)"
            user = STEP_USER.format(condition=condition or "(see the current question)",
                                    process=process, step=step)
            messages = [{"role": "user", "content": user}]
            if not system.config.system_prompt:
                messages.insert(0, {"role": "system", "content": SOLVE_SYSTEM})
            overrides = {} if system.config.sampling.greedy else {"seed": ctx.seed_for(problem, sample_idx, 1000 + i)}
            c = await system.ask(messages, stage="solve", ledger=ledger, step=i, **overrides)
            step_answer = extract_answer(c.text).answer
            if c.finish_reason == "length":
                failures.append("step_truncated")
            solved.append({"step": step, "mode": system.mode, "visible": c.text, "answer": step_answer,
                           "score": scores[i].value, "score_how": scores[i].how,
                           "reasoning_chars": len(c.reasoning), "finish_reason": c.finish_reason})
            final_text, answer = c.text, step_answer
        if answer is None:
            failures.append("no_answer")
        trace = {
            "condition": condition, "question": question, "fallback": fallback,
            "outlines": dec.candidates, "chosen": dec.chosen, "unparsed_outlines": dec.raw_failures,
            **dec.trace, "steps": solved,
        }
        return Attempt(answer=answer, response=final_text, trace=trace, ledger=ledger, failures=failures)
