"""The classifier's one input template, and its tokenisation with left truncation.

One step is rated from the problem, the steps before it and the step itself::

    Problem: <problem>

    Earlier steps:
    Step 1: <description>
    Step 2: <description>

    Current step: <description>

The context (problem + earlier steps) and the tail (the current step) are tokenised
apart; when the two exceed ``max_length`` the context loses tokens from its LEFT, so the
current step is never cut (a step longer than ``max_length`` on its own keeps its end).
Training and the scorer both go through :func:`encode`, so they see identical tokens.

``answers=True`` adds each earlier step's visible answer (``Answer: ...``). SCALE rates
every step before solving any, so no answers exist at routing time: an adapter trained
with answers is for analysis and the scorer refuses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Annotated, Any

from scale.checks import Range, check_fields
from scale.errors import ConfigError

TEMPLATE_NAME = "scale-step-v1"
TEMPLATE_TEXT = ("Problem: {problem}\n\nEarlier steps:\n{earlier}\n\nCurrent step: {step}\n"
                 "(earlier: 'Step i: <description>' lines, with 'Answer: <answer>' lines when answers=true; "
                 "'(none)' for the first step)")


@dataclass(frozen=True)
class StepInput:
    """What the classifier sees for one step."""

    problem: str
    previous: tuple[str, ...]  # descriptions of the earlier steps, in order
    step: str
    previous_answers: tuple[str, ...] = ()  # their visible answers ('' when none); used with answers=True


@dataclass(frozen=True)
class Template:
    """How a :class:`StepInput` becomes tokens (stored in ``difficulty.json``)."""

    max_length: Annotated[int, Range(ge=16)] = 512  # tokens
    answers: bool = False
    name: str = TEMPLATE_NAME

    def __post_init__(self) -> None:
        check_fields(self, "")
        if self.name != TEMPLATE_NAME:
            raise ConfigError(f"template {self.name!r} is unknown to this code (it knows {TEMPLATE_NAME!r})")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "text": TEMPLATE_TEXT, "truncation": "left of the context; the current step is kept"}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Template:
        return cls(max_length=int(raw.get("max_length", 512)), answers=bool(raw.get("answers", False)),
                   name=str(raw.get("name", TEMPLATE_NAME)))

    def context_text(self, inp: StepInput) -> str:
        lines = []
        for j, desc in enumerate(inp.previous):
            lines.append(f"Step {j + 1}: {desc}")
            if self.answers:
                answer = inp.previous_answers[j] if j < len(inp.previous_answers) else ""
                lines.append(f"Answer: {answer or '(none)'}")
        earlier = "\n".join(lines) or "(none)"
        return f"Problem: {inp.problem}\n\nEarlier steps:\n{earlier}\n\n"

    @staticmethod
    def tail_text(inp: StepInput) -> str:
        return f"Current step: {inp.step}"

    def _cut(self, context: Sequence[int], tail: Sequence[int]) -> list[int]:
        if len(tail) >= self.max_length:
            return list(tail[-self.max_length:])
        room = self.max_length - len(tail)
        return list(context[-room:]) + list(tail)  # room >= 1 here

    def encode(self, tokenizer: Any, inp: StepInput) -> list[int]:
        """Token ids of one step, at most ``max_length``, context cut from the left."""
        context = tokenizer(self.context_text(inp), add_special_tokens=False)["input_ids"]
        tail = tokenizer(self.tail_text(inp), add_special_tokens=False)["input_ids"]
        return self._cut(context, tail)

    def encode_many(self, tokenizer: Any, inputs: Sequence[StepInput]) -> list[list[int]]:
        """:meth:`encode` of each input, with one tokenizer call for the contexts and one for the tails."""
        if not inputs:
            return []
        contexts = tokenizer([self.context_text(inp) for inp in inputs], add_special_tokens=False)["input_ids"]
        tails = tokenizer([self.tail_text(inp) for inp in inputs], add_special_tokens=False)["input_ids"]
        return [self._cut(context, tail) for context, tail in zip(contexts, tails)]


def problem_inputs(problem: str, steps: Sequence[str]) -> list[StepInput]:
    """The inputs for every step of one outline (scores precede solving: no answers)."""
    return [StepInput(problem, tuple(steps[:i]), step) for i, step in enumerate(steps)]
