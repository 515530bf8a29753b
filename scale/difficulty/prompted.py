"""The paper's scorer: one System 1 call per step, a bare number in [0, 1].

``sampling: s1`` (the default) samples the call with System 1's own settings, as the SCALE
authors do, and re-samples (a new seed) while the reply is not a bare number in [0, 1], for
up to ``resample`` more calls; then the counted fallback: the first reply the lenient parser
reads (``score_lenient``: "Score: 0.3", a word, a clamped 7), else ``on_failure``
(``score_parse``). ``sampling: greedy`` asks once at temperature 0 (re-asking a greedy
call would repeat the reply, so it never re-samples; neither does a greedy System 1).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Annotated, Any

from scale.checks import NonNegative, OneOf, Positive, ZeroToOne, check_args
from scale.difficulty.base import DifficultyScorer, StepScore
from scale.ledger import Ledger
from scale.parsing import ParsedScore, parse_score
from scale.prompts import Prompts

SAMPLING = ("s1", "greedy")


class PromptedScorer(DifficultyScorer):
    name = "prompted"

    @check_args("difficulty")
    def __init__(self, max_new_tokens: Positive = 64, on_failure: ZeroToOne = 1.0,
                 sampling: Annotated[str, OneOf(SAMPLING)] = "s1", resample: NonNegative = 4,
                 threshold: ZeroToOne = 0.5, prompts: Mapping[str, Any] | Prompts | None = None) -> None:
        self.max_new_tokens = max_new_tokens
        self.on_failure = on_failure
        self.sampling = sampling
        self.resample = resample
        self.threshold = threshold
        self.prompts = Prompts.from_config(prompts, "difficulty.prompts")

    def messages(self, question: str, steps: list[str], i: int) -> list[dict[str, str]]:
        """The score call for step ``i``: the problem, earlier step descriptions, the step."""
        p = self.prompts
        previous = p.fill("score_previous_join").join(
            p.fill("score_previous_step", index=j + 1, step=s) for j, s in enumerate(steps[:i]))
        return p.chat("score_system", "score_user", question=question,
                      previous=previous or p.fill("score_previous_none"), step=steps[i])

    async def score(self, question: str, steps: list[str], ctx: Any, ledger: Ledger,
                    seed: int = 0) -> list[StepScore]:
        s1 = ctx.systems.s1
        greedy = self.sampling == "greedy" or s1.config.sampling.greedy
        calls = 1 if greedy else 1 + self.resample

        async def one(i: int) -> StepScore:
            messages = self.messages(question, steps, i)
            parsed: list[tuple[ParsedScore, str]] = []
            for r in range(calls):
                overrides: dict[str, Any] = {"max_new_tokens": self.max_new_tokens}
                if self.sampling == "greedy":
                    overrides["temperature"] = 0.0
                elif not greedy:
                    overrides["seed"] = (seed + 7919 * (i + 1) + 104729 * r) % 2**31
                c = await s1.ask(messages, stage="score", ledger=ledger, step=i, **overrides)
                p = parse_score(c.text)
                if p.bare:
                    return StepScore(p.value, "bare", p.raw, tries=r + 1)
                parsed.append((p, c.text))
                if c.finish_reason == "context_overflow":
                    break  # a longer reply cannot come: the prompt fills the window
            tries = len(parsed)
            for p, _ in parsed:
                if p.value is not None:
                    return StepScore(p.value, p.how, p.raw, lenient=True, tries=tries)
            return StepScore(self.on_failure, "failed", parsed[-1][1][:200], tries=tries)

        # Scores depend only on descriptions, so all steps are rated concurrently.
        return list(await asyncio.gather(*(one(i) for i in range(len(steps)))))
