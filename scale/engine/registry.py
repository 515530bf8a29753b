"""Engine registry (backend name -> class) and building S1/S2 from a config.

Config shape (``configs/systems/*.yaml`` merged with ``configs/engine/*.yaml``)::

    engine: {backend: hf, dtype: auto, max_batch_size: 16}   # defaults for every engine
    systems:
      engines: {main: {model: Qwen/Qwen3-32B}}
      s1: {engine: main, template_kwargs: {enable_thinking: false}, sampling: {...}}
      s2: {engine: main, template_kwargs: {enable_thinking: true}, sampling: {...}}
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from scale.engine.types import Engine
from scale.errors import ConfigError
from scale.systems import System, system_config_from_dict

ENGINES: dict[str, str] = {
    "hf": "scale.engine.hf_engine:HFEngine",
    "openai": "scale.engine.openai_engine:OpenAIEngine",
}


def register_engine(name: str, target: str) -> None:
    """Register a backend as ``module:Class`` (imported only when used)."""
    ENGINES[name] = target


def engine_class(backend: str) -> Callable[..., Engine]:
    if backend not in ENGINES:
        raise ConfigError(f"unknown engine backend {backend!r}; known: {', '.join(sorted(ENGINES))}")
    module, _, cls = ENGINES[backend].partition(":")
    return getattr(importlib.import_module(module), cls)


def build_engine(name: str, raw: Mapping[str, Any]) -> Engine:
    """Instantiate engine ``name`` from its merged config node; unknown keys are refused."""
    raw = dict(raw)
    backend = raw.pop("backend", None)
    if backend is None:
        raise ConfigError(f"engine {name!r}: missing 'backend' (one of {', '.join(sorted(ENGINES))})")
    cls = engine_class(backend)
    params = inspect.signature(cls.__init__).parameters
    unknown = [k for k in raw if k not in params]
    if unknown:
        allowed = sorted(p for p in params if p != "self")
        raise ConfigError(f"engine {name!r} ({backend}): unknown key(s) {unknown}; allowed {allowed}")
    if "name" in params and "name" not in raw:
        raw["name"] = name
    return cls(**raw)


@dataclass
class Systems:
    s1: System
    s2: System
    engines: dict[str, Engine]

    async def aclose(self) -> None:
        for engine in {id(e): e for e in self.engines.values()}.values():
            await engine.aclose()


def build_systems(systems_cfg: Mapping[str, Any], engine_defaults: Mapping[str, Any] | None = None,
                  only: set[str] | None = None) -> Systems:
    """Build S1 and S2, loading each distinct engine once (same settings -> same engine)."""
    for key in ("engines", "s1", "s2"):
        if key not in systems_cfg:
            raise ConfigError(f"systems: missing {key!r}")
    defaults = dict(engine_defaults or {})
    s1_cfg = system_config_from_dict(systems_cfg["s1"].get("name", "s1"), "s1", systems_cfg["s1"])
    s2_cfg = system_config_from_dict(systems_cfg["s2"].get("name", "s2"), "s2", systems_cfg["s2"])
    engine_nodes = dict(systems_cfg["engines"])
    for sc in (s1_cfg, s2_cfg):
        if sc.engine not in engine_nodes:
            raise ConfigError(
                f"systems.{sc.mode}.engine names {sc.engine!r}; defined engines: {sorted(engine_nodes)}"
            )
    wanted = {"s1", "s2"} if only is None else set(only)
    unknown = wanted - {"s1", "s2"}
    if unknown:
        raise ConfigError(f"unknown system(s) {sorted(unknown)}; known: ['s1', 's2']")
    built: dict[str, Engine] = {}
    by_settings: dict[str, Engine] = {}
    for sc in (s1_cfg, s2_cfg):
        if sc.mode not in wanted or sc.engine in built:
            continue
        merged = {**defaults, **dict(engine_nodes[sc.engine] or {})}
        key = json.dumps(merged, sort_keys=True, default=str)
        if key not in by_settings:
            by_settings[key] = build_engine(sc.engine, merged)
        built[sc.engine] = by_settings[key]

    def bind(sc) -> System:
        # A system the method does not use gets no engine (a pair's unused model is not loaded).
        return System(sc, built[sc.engine]) if sc.engine in built else System(sc, _Unloaded(sc.mode))

    return Systems(bind(s1_cfg), bind(s2_cfg), built)


class _Unloaded(Engine):
    """Stands where a system's engine was not loaded because the method does not use it."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.name = f"unloaded-{mode}"

    async def generate(self, request):
        raise ConfigError(f"system {self.mode} was not loaded: the method did not declare it in uses_systems")
