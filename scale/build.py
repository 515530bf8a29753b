"""Build swappable parts from config nodes: one way for methods, scorers, routers, engines.

A node names its class with ``_target_: package.module.Class`` (a user's own module works
too) and holds the constructor's arguments; ``name`` is a label the built object keeps::

    build({"_target_": "scale.routing.ThresholdRouter", "name": "threshold", "tau": 0.5}, "router")

Before the constructor runs, every key is checked against its signature: an unknown key,
a missing required key or a value of the wrong type fails with one line naming the config
key, the value and what was expected (``router.tau: expected a number, got 'abc'``).
A new part is therefore one module plus one YAML file; nothing else is edited.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from scale.errors import ConfigError

TARGET = "_target_"


def import_target(path: str, where: str) -> Any:
    """The object named ``module.attr`` (or ``module:attr``)."""
    if not isinstance(path, str) or not path.strip():
        raise ConfigError(f"{where}.{TARGET} must name a class as 'package.module.Class', got {path!r}")
    module, sep, attr = path.partition(":") if ":" in path else path.rpartition(".")
    if not sep or not module or not attr:
        raise ConfigError(f"{where}.{TARGET} must name a class as 'package.module.Class', got {path!r}")
    try:
        mod = importlib.import_module(module)
    except ImportError as err:
        raise ConfigError(f"{where}.{TARGET}: cannot import module {module!r} ({err})") from None
    try:
        return getattr(mod, attr)
    except AttributeError:
        raise ConfigError(f"{where}.{TARGET}: module {module!r} has no {attr!r}") from None


def _describe(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return "anything"
    if annotation is type(None):
        return "null"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(annotation))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string"}
    if annotation in names:
        return names[annotation]
    base = origin or annotation
    if isinstance(base, type) and issubclass(base, Mapping):
        return "a mapping"
    if isinstance(base, type) and issubclass(base, (list, tuple, Sequence)):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return f"a list of items each {_describe(args[0])}" if len(args) == 1 else "a list"
    return getattr(annotation, "__name__", str(annotation))


def _matches(value: Any, annotation: Any) -> tuple[bool, Any]:
    """Whether ``value`` fits ``annotation``; returns the value to use (ints widen to floats)."""
    if annotation is Any or annotation is inspect.Parameter.empty:
        return True, value
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(annotation):
            ok, converted = _matches(value, option)
            if ok:
                return True, converted
        return False, value
    if origin is typing.Literal:
        return value in typing.get_args(annotation), value
    if annotation is type(None):
        return value is None, value
    if annotation is bool:
        return isinstance(value, bool), value
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, float(value)
        return False, value
    if annotation is str:
        return isinstance(value, str), value
    base = origin or annotation
    if not isinstance(base, type):
        return True, value  # forward references, type variables: not checked
    if issubclass(base, Mapping):
        return isinstance(value, Mapping), value
    if issubclass(base, (list, tuple)) or base is Sequence:
        if not isinstance(value, (list, tuple)):
            return False, value
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        if len(args) == 1:  # list[str], tuple[str, ...]: every element checked
            items = [_matches(v, args[0]) for v in value]
            if not all(ok for ok, _ in items):
                return False, value
            value = [v for _, v in items]
        return True, tuple(value) if issubclass(base, tuple) else list(value)
    if dataclasses.is_dataclass(base) and isinstance(value, Mapping):
        return True, value  # the receiving code builds the dataclass (and checks its fields)
    return isinstance(value, base), value


def check_value(where: str, value: Any, annotation: Any) -> Any:
    """``value`` if it fits ``annotation`` (ints widen to floats), else a one-line ConfigError."""
    ok, converted = _matches(value, annotation)
    if not ok:
        raise ConfigError(f"{where}: expected {_describe(annotation)}, got {value!r}")
    return converted


@functools.lru_cache(maxsize=256)
def _hints(fn: Any) -> dict[str, Any]:
    """Evaluated annotations of ``fn``'s arguments (cached: run dirs are read record by record)."""
    if isinstance(fn, type) and not dataclasses.is_dataclass(fn):
        fn = fn.__init__  # a class's own annotations are its attributes, not its arguments
    try:
        return typing.get_type_hints(fn)
    except Exception:  # an annotation that cannot be evaluated is simply not checked
        return {}


@functools.lru_cache(maxsize=256)
def _params(fn: Any) -> tuple[dict[str, inspect.Parameter], bool]:
    """Named arguments of ``fn`` and whether it takes ``**kwargs`` (cached like ``_hints``)."""
    sig = inspect.signature(fn)
    params = {n: p for n, p in sig.parameters.items()
              if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    return params, any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())


def check_kwargs(fn: Any, kwargs: Mapping[str, Any], where: str,
                 supplied: tuple[str, ...] = ()) -> dict[str, Any]:
    """Check ``kwargs`` against ``fn``'s signature: unknown, missing and mistyped keys fail.

    ``supplied`` names arguments the caller passes itself (not from the config).
    """
    params, open_kwargs = _params(fn)
    unknown = [k for k in kwargs if k not in params]
    if unknown and not open_kwargs:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(params)}")
    missing = [n for n, p in params.items()
               if p.default is p.empty and n not in kwargs and n not in supplied]
    if missing:
        raise ConfigError(f"{where}: missing required key(s) {missing}")
    hints = _hints(fn)
    return {k: check_value(f"{where}.{k}", v, hints[k]) if k in hints else v for k, v in kwargs.items()}


def check_dataclass(cls: type, raw: Mapping[str, Any], where: str) -> Any:
    """Build dataclass ``cls`` from a config mapping, every field checked as ``build`` does."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {raw!r}")
    return cls(**check_kwargs(cls, raw, where))


def check_nested(cls: type, raw: Any, nested: Mapping[str, type], where: str, what: str) -> Any:
    """Build dataclass ``cls`` from a config mapping whose ``nested`` keys are dataclasses of
    their own (each checked under its key); the rest is checked against ``cls`` under ``where``.
    ``what`` names the config in the error for a non-mapping."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{what}: expected a mapping, got {raw!r}")
    top = dict(raw)
    built = {k: check_dataclass(c, top.pop(k) or {}, k) for k, c in nested.items() if k in top}
    return cls(**check_kwargs(cls, top, where), **built)


def build(node: Any, where: str, **deps: Any) -> Any:
    """Instantiate the part a config node describes (see the module docstring).

    ``deps`` are objects the caller supplies (not config values), passed unchecked.
    An already-built object (not a mapping) is returned as is.
    """
    if not isinstance(node, Mapping):
        if node is None:
            raise ConfigError(f"{where}: missing config node")
        return node
    kwargs = dict(node)
    if TARGET not in kwargs:
        raise ConfigError(f"{where}: missing {TARGET} (the class to build, as 'package.module.Class')")
    cls = import_target(kwargs.pop(TARGET), where)
    if not callable(cls):
        raise ConfigError(f"{where}.{TARGET}: {cls!r} is not a class or function")
    label = kwargs.pop("name", None)
    takes_name = "name" in inspect.signature(cls).parameters
    if takes_name and label is not None:
        kwargs["name"] = label
    checked = check_kwargs(cls, kwargs, where, supplied=tuple(deps))
    obj = cls(**checked, **deps)
    if label is not None and not takes_name:
        obj.name = label
    return obj
