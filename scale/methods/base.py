"""Method interface and registry: ``async run(problem, sample_idx, ctx) -> Attempt``.

Methods await one call at a time per problem; the engines batch across problems.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scale.data.problem import Problem
from scale.engine.registry import Systems
from scale.errors import ConfigError
from scale.grading.extract import extract_answer
from scale.ledger import Ledger


@dataclass
class Context:
    """What a method needs besides the problem: the systems, a seed, shared state."""

    systems: Systems
    seed: int = 0
    grader: Any = None  # scale.grading.Grader; methods that compare answers (majority) use it
    shared: dict[str, Any] = field(default_factory=dict)  # e.g. dataset-wide router state

    def seed_for(self, problem: Problem, sample_idx: int, salt: int = 0) -> int:
        """Deterministic per-(problem, sample, call) seed, stable across reruns and shards."""
        import zlib

        return (zlib.crc32(f"{problem.id}|{sample_idx}|{salt}".encode()) + self.seed) % (2**31)


@dataclass
class Attempt:
    """One sample of one problem: the answer, the whole trace, and its cost ledger."""

    answer: str | None
    response: str
    trace: dict[str, Any] = field(default_factory=dict)
    ledger: Ledger = field(default_factory=Ledger)
    failures: list[str] = field(default_factory=list)  # kinds, counted in metrics


class Method(abc.ABC):
    name: str = "method"

    @property
    def uses_systems(self) -> set[str]:
        """Systems this method calls; only their engines are loaded."""
        system = getattr(self, "system", None)
        return {system} if system in ("s1", "s2") else {"s1", "s2"}

    @abc.abstractmethod
    async def run(self, problem: Problem, sample_idx: int, ctx: Context) -> Attempt: ...

    def prepare(self, problems: list[Problem], n_samples: int, ctx: Context) -> None:  # noqa: B027
        """Hook for dataset-wide state (e.g. fraction routing); default: nothing."""


def check_system(system: str) -> str:
    """A method's ``system`` setting: 's1' or 's2', else a ConfigError naming the value."""
    if system not in ("s1", "s2"):
        raise ConfigError(f"method.system must be 's1' or 's2', got {system!r}")
    return system


METHODS: dict[str, Callable[..., Method]] = {}


def register_method(name: str) -> Callable[[type[Method]], type[Method]]:
    def wrap(cls: type[Method]) -> type[Method]:
        cls.name = name
        METHODS[name] = cls
        return cls

    return wrap


def build_method(name: str, **kwargs: Any) -> Method:
    import scale.methods  # noqa: F401  (registers the built-in methods)

    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}; known: {', '.join(sorted(METHODS))}")
    try:
        return METHODS[name](**kwargs)
    except TypeError as err:
        raise ConfigError(f"method {name!r}: {err}") from None


def answer_of(text: str) -> tuple[str | None, list[str]]:
    """Extracted final answer and failure kinds (``no_answer`` when nothing was found)."""
    extraction = extract_answer(text)
    return extraction.answer, ([] if extraction.answer is not None else ["no_answer"])
