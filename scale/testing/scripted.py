"""A scripted engine: answers from a script, by pipeline stage and prompt pattern.

For testing a method's *logic* exactly and fast (the prompts each stage sends, routes,
ledger sums, failure counters): no model is involved, so nothing here tests an engine.
Tokens are whitespace-separated words, so counts are easy to predict::

    engine = ScriptedEngine([
        Rule(stage="decompose", reply='{"step1": "Find x", "step2": "Find y"}'),
        Rule(stage="score", pattern=r"Find x", reply="0.2"),
        Rule(stage="solve", reply=lambda req: "so \\\\boxed{4}", reasoning="long thought"),
    ])
    systems = scripted_systems(engine)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scale.engine.types import Completion, Engine, GenerationRequest, SamplingParams
from scale.errors import ScaleError
from scale.systems import System, SystemConfig, Systems

Reply = str | Callable[[GenerationRequest], str]


class UnscriptedRequest(ScaleError):
    """A request no rule answers: the script is incomplete (a test bug, never a model's)."""


def words(text: str) -> int:
    return len(text.split())


def prompt_text(request: GenerationRequest) -> str:
    return "\n".join(m["content"] for m in request.messages)


@dataclass
class Rule:
    """Answer requests of ``stage`` (any if None) whose prompt matches ``pattern`` (regex)."""

    reply: Reply = ""
    stage: str | None = None
    pattern: str | None = None
    reasoning: str = ""  # the thought, returned only when the request has thinking on
    times: int | None = None  # use at most this many times, then fall through to later rules
    error: BaseException | None = None  # raise this instead of answering (fault injection)
    used: int = field(default=0, init=False)

    def matches(self, request: GenerationRequest) -> bool:
        if self.times is not None and self.used >= self.times:
            return False
        if self.stage is not None and request.stage != self.stage:
            return False
        return self.pattern is None or re.search(self.pattern, prompt_text(request), re.S) is not None


class ScriptedEngine(Engine):
    """Replies by the first matching rule; every request is kept in ``requests``."""

    def __init__(self, rules: list[Rule], name: str = "scripted") -> None:
        self.rules = list(rules)
        self.name = name
        self.requests: list[GenerationRequest] = []

    def sent(self, stage: str) -> list[GenerationRequest]:
        """The requests of one stage, in the order they were made."""
        return [r for r in self.requests if r.stage == stage]

    async def generate(self, request: GenerationRequest) -> Completion:
        self.requests.append(request)
        rule = next((r for r in self.rules if r.matches(request)), None)
        if rule is None:
            head = prompt_text(request)[:120].replace("\n", " ")
            # A ScaleError stops a run at once: a missing rule must fail the test, not become
            # an error record that the run (and a careless test) carries on past.
            raise UnscriptedRequest(f"no scripted reply for stage {request.stage!r}: {head!r}")
        rule.used += 1
        if rule.error is not None:
            raise rule.error
        text = rule.reply(request) if callable(rule.reply) else rule.reply
        reasoning = rule.reasoning if request.thinking else ""
        prompt_tokens = words(prompt_text(request))
        budget = request.sampling.max_new_tokens
        if request.context_length is not None:
            room = request.context_length - prompt_tokens - request.context_margin
            if room < 1:
                return Completion("", prompt_tokens=prompt_tokens, finish_reason="context_overflow")
            budget = min(budget, room)
        thought, visible = reasoning.split(), text.split()
        finish = "stop"
        if len(thought) + len(visible) > budget:  # cut like a real budget: thought first
            finish = "length"
            thought = thought[:budget]
            visible = visible[:max(0, budget - len(thought))]
            text, reasoning = " ".join(visible), " ".join(thought)
        return Completion(text=text, reasoning=reasoning, prompt_tokens=prompt_tokens,
                          response_tokens=len(thought) + len(visible), reasoning_tokens=len(thought),
                          finish_reason=finish)


def scripted_systems(engine: Engine, s2_engine: Engine | None = None, **overrides: Any) -> Systems:
    """S1 (greedy, thinking off) and S2 (sampled, thinking on) over scripted engines.

    ``overrides``: ``s1=dict(...)``/``s2=dict(...)`` of SystemConfig fields.
    """
    s2_engine = s2_engine or engine
    s1_cfg = {"name": "s1", "mode": "s1", "engine": "s1", "template_kwargs": {"enable_thinking": False},
              "sampling": SamplingParams(temperature=0.0, max_new_tokens=64), **overrides.get("s1", {})}
    s2_cfg = {"name": "s2", "mode": "s2", "engine": "s2", "template_kwargs": {"enable_thinking": True},
              "sampling": SamplingParams(temperature=0.6, top_p=0.95, max_new_tokens=256),
              **overrides.get("s2", {})}
    return Systems(System(SystemConfig(**s1_cfg), engine), System(SystemConfig(**s2_cfg), s2_engine),
                   {"s1": engine, "s2": s2_engine})
