"""Requests, completions and the engine interface shared by every backend."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Annotated, Any

from scale.checks import NonNegative, Positive, Range, check_fields


@dataclass(frozen=True)
class SamplingParams:
    """Decoding settings; ``temperature == 0`` means greedy."""

    temperature: Annotated[float, Range(ge=0)] = 0.0
    top_p: Annotated[float, Range(gt=0, le=1)] = 1.0
    top_k: NonNegative = 0  # 0 = off
    max_new_tokens: Positive = 512
    seed: int | None = None

    def __post_init__(self) -> None:
        check_fields(self, "sampling")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass(frozen=True)
class BudgetForcing:
    """s1-style thinking budget: close ``<think>`` after ``thinking_tokens`` and answer.

    A request whose thought is still open after ``thinking_tokens`` gets ``close_text``
    appended and ``answer_tokens`` more tokens to finish.
    """

    thinking_tokens: Positive
    answer_tokens: Positive = 512
    close_text: str = "\n</think>\n\n"

    def __post_init__(self) -> None:
        check_fields(self, "budget")


NO_WINDOW = 1 << 62  # GenerationRequest.room without a context window


@dataclass(frozen=True)
class GenerationRequest:
    """One chat call: messages, sampling, chat-template kwargs, stop strings."""

    messages: tuple[dict[str, str], ...] | list[dict[str, str]]
    sampling: SamplingParams = field(default_factory=SamplingParams)
    template_kwargs: dict[str, Any] = field(default_factory=dict)
    stop: tuple[str, ...] = ()
    budget: BudgetForcing | None = None
    # The model's window (prompt + new tokens). Engines cap every call at
    # min(max_new_tokens, context_length - prompt tokens - context_margin); a prompt that
    # leaves no room comes back as finish_reason "context_overflow" with no text.
    context_length: int | None = None
    context_margin: int = 0
    stage: str = ""  # pipeline stage asking (decompose, select, score, solve, ...): logs, scripted engines

    @property
    def thinking(self) -> bool:
        return bool(self.template_kwargs.get("enable_thinking", False))

    def room(self, prompt_tokens: int) -> int:
        """New tokens the context window leaves after the prompt (a huge number without a window)."""
        if self.context_length is None:
            return NO_WINDOW
        return self.context_length - prompt_tokens - self.context_margin


@dataclass
class Completion:
    """What came back: visible text and the ``<think>`` part split off, with token counts.

    ``response_tokens`` counts every generated token (reasoning included, the end-of-turn
    token included when one was generated); ``reasoning_tokens`` is the thinking part of it.
    ``finish_reason``: "stop" (end of turn or stop string), "length" (budget spent),
    "budget" (thinking was cut by budget forcing, then the answer finished), or
    "context_overflow" (the prompt left no room in the model's context; nothing generated).
    """

    text: str
    reasoning: str = ""
    prompt_tokens: int = 0
    response_tokens: int = 0
    reasoning_tokens: int = 0
    finish_reason: str = "stop"
    seconds: float = 0.0
    forced: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


def context_overflow(request: GenerationRequest, prompt_tokens: int, **meta: Any) -> Completion:
    """The prompt leaves no room in the context window: nothing generated, no exception."""
    return Completion(text="", prompt_tokens=prompt_tokens, finish_reason="context_overflow",
                      meta={"max_new_tokens": 0, "context_length": request.context_length,
                            "context_margin": request.context_margin, **meta})


class Engine(abc.ABC):
    """One loaded model (or one server). Methods await per-request calls; engines batch."""

    name: str = "engine"

    @abc.abstractmethod
    async def generate(self, request: GenerationRequest) -> Completion: ...

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release resources (threads, HTTP clients)."""

    def batch_capacity(self) -> int | None:
        """Requests this engine decodes together when full (runner.max_concurrency=auto); None: unknown."""
        return None
