"""Range and choice rules declared on a field's (or an argument's) type, checked in one place.

    top_p: Annotated[float, Range(gt=0, le=1)] = 1.0
    max_new_tokens: Positive = 512  # Annotated[int, Range(ge=1)]; `Positive | None` lets null pass
    scheduler: Annotated[str, OneOf(SCHEDULERS)] = "auto"

A dataclass's ``__post_init__`` calls ``check_fields(self, "sampling")``, a constructor takes
``@check_args("engine")``: a bad value fails in one line naming key and value (``sampling.top_p
must be in (0, 1], got 1.5``). A subclass that redeclares a field keeps its base's rules. Rules
that tie fields together stay code; types are checked where a config is read (:mod:`scale.build`).
"""

from __future__ import annotations

import functools
import inspect
import numbers
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from scale.errors import ConfigError


@dataclass(frozen=True)
class Range:
    """Bounds on a number: ``Range(gt=0, le=1)`` reads "in (0, 1]"."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def holds(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        return (
            (self.ge is None or value >= self.ge)
            and (self.gt is None or value > self.gt)
            and (self.le is None or value <= self.le)
            and (self.lt is None or value < self.lt)
        )

    def __str__(self) -> str:
        low = ("[", self.ge) if self.ge is not None else ("(", self.gt)
        high = ("]", self.le) if self.le is not None else (")", self.lt)
        if low[1] is not None and high[1] is not None:
            return f"in {low[0]}{low[1]}, {high[1]}{high[0]}"
        ops = ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt))
        return next(f"{op} {bound}" for op, bound in ops if bound is not None)


@dataclass(frozen=True)
class OneOf:
    """One of a fixed set of values: ``OneOf(("rule", "model"))``."""

    choices: tuple[Any, ...]

    def holds(self, value: Any) -> bool:
        return value in self.choices

    def __str__(self) -> str:
        return f"one of {self.choices}"


Positive = Annotated[int, Range(ge=1)]  # counts, sizes, budgets
NonNegative = Annotated[int, Range(ge=0)]
ZeroToOne = Annotated[float, Range(ge=0, le=1)]  # scores, thresholds, fractions


@dataclass(frozen=True)
class _Spec:
    base: Any  # the annotated type
    rules: tuple[Range | OneOf, ...]
    nullable: bool  # ``Annotated[...] | None``

    def check(self, where: str, value: Any) -> None:
        if value is None and self.nullable:
            return
        # an int is a count: 1.5 tokens is as wrong as 0 (numpy's ints count, bools do not)
        integral = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        for rule in self.rules:
            wrong_type = self.base is int and isinstance(rule, Range) and not integral
            if wrong_type or not rule.holds(value):
                kind = "an integer " if wrong_type else ""
                null = " or null" if self.nullable else ""
                raise ConfigError(f"{where} must be {kind}{rule}{null}, got {value!r}")


@functools.cache
def _specs(owner: Any) -> dict[str, _Spec]:
    """The checked names of a class (its fields, bases first) or a function (its arguments)."""
    found: dict[str, _Spec] = {}
    for scope in reversed(owner.__mro__[:-1]) if isinstance(owner, type) else (owner,):
        for name, hint in typing.get_type_hints(scope, include_extras=True).items():
            args = typing.get_args(hint)
            nullable = (
                typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args
            )
            if nullable:
                hint = next((a for a in args if typing.get_origin(a) is Annotated), None)
            if typing.get_origin(hint) is Annotated:
                base, *rules = typing.get_args(hint)
                found[name] = _Spec(
                    base, tuple(r for r in rules if isinstance(r, (Range, OneOf))), nullable
                )
    return found


def check_fields(obj: Any, prefix: str, keys: dict[str, str] | None = None) -> None:
    """Check every field of ``obj`` that declares rules; keys read ``prefix.field``, or
    ``keys[field]`` where a field is read from elsewhere in the config."""
    for name, spec in _specs(type(obj)).items():
        key = (keys or {}).get(name) or (f"{prefix}.{name}" if prefix else name)
        spec.check(key, getattr(obj, name))


F = TypeVar("F", bound=Callable[..., Any])


def check_args(prefix: str) -> Callable[[F], F]:
    """Decorate a constructor (or any function): the arguments that declare rules are
    checked before it runs; keys read ``prefix.argument``."""

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)  # keeps the signature and annotations that scale.build reads
        def checked(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            for name, spec in _specs(fn).items():
                spec.check(f"{prefix}.{name}", bound.arguments[name])
            return fn(*args, **kwargs)

        return typing.cast(F, checked)

    return decorate
