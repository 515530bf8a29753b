"""Method interface: ``async run(problem, sample_idx, ctx) -> Attempt``.

Methods await one call at a time per problem; the engines batch across problems. A
method is built from its config node (``_target_`` + arguments, :func:`scale.build.build`);
what the runner needs to know about it is declared here: the systems it calls, whether
its routing is dataset-wide, and a hook that sees the whole run before it starts.
"""

from __future__ import annotations

import abc
import zlib
from dataclasses import dataclass, field
from typing import Annotated, Any

from scale.checks import OneOf
from scale.data.problem import Problem
from scale.grading.extract import extract_answer
from scale.ledger import Ledger
from scale.systems import MODES, Systems


@dataclass
class Context:
    """What a method needs besides the problem."""

    systems: Systems
    seed: int = 0
    grader: Any = None  # scale.grading.Grader; methods that compare answers (majority) use it
    n_attempts: int = 0  # attempts this process will run (dataset-wide routers wait for them all)

    def seed_for(self, problem: Problem, sample_idx: int, salt: int = 0) -> int:
        """Deterministic per-(problem, sample, call) seed, stable across reruns and shards."""
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
    name: str = "method"  # the config's ``name`` label replaces it (records, run names)

    @property
    def uses_systems(self) -> set[str]:
        """Systems this method calls; only their engines are loaded."""
        system = getattr(self, "system", None)
        return {system} if system in ("s1", "s2") else {"s1", "s2"}

    @property
    def dataset_wide(self) -> bool:
        """True when an attempt waits for every other attempt (dataset-wide routing):
        the runner then keeps all attempts in flight at once."""
        return False

    def prepare(self, problems: list[Problem], n_samples: int, ctx: Context) -> None:  # noqa: B027
        """Called once before the first attempt, with the whole run; default: nothing."""

    def abandon(self, problem: Problem, sample_idx: int) -> None:  # noqa: B027
        """The runner's word that this attempt failed and will never finish (so shared
        state, e.g. a dataset-wide router, stops waiting for it); default: nothing."""

    @abc.abstractmethod
    async def run(self, problem: Problem, sample_idx: int, ctx: Context) -> Attempt: ...


Mode = Annotated[str, OneOf(MODES)]  # a method's ``system`` setting: 's1' or 's2'


def finish_failures(finish_reason: str, truncated: str | None = "truncated") -> list[str]:
    """Failure kinds of a call's ending: ``truncated`` (budget spent; the kind is named by
    ``truncated``, and None counts nothing where a capped reply is expected), ``context_overflow``
    (the prompt left no room in the model's context; nothing was generated)."""
    if finish_reason == "length":
        return [truncated] if truncated is not None else []
    return ["context_overflow"] if finish_reason == "context_overflow" else []


def answer_of(text: str) -> tuple[str | None, list[str]]:
    """Extracted final answer and failure kinds (``no_answer`` when nothing was found)."""
    extraction = extract_answer(text)
    return extraction.answer, ([] if extraction.answer is not None else ["no_answer"])
