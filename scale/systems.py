"""System 1 and System 2: named decoding configurations over engines.

A hybrid model (Qwen3) is one engine used by both systems with thinking switched off/on;
a pair (Qwen3 S1 + QwQ S2) is two engines. Systems naming the same engine share it.
``ask`` calls the engine and writes the ledger. Engines know nothing of systems.

Config shape (``configs/systems/*.yaml`` over the defaults of ``configs/engine/*.yaml``)::

    engine: {_target_: scale.engine.hf_engine.HFEngine, dtype: auto}   # every engine's defaults
    systems:
      engines: {main: {model: Qwen/Qwen3-32B}}
      s1: {engine: main, template_kwargs: {enable_thinking: false}, sampling: {...}}
      s2: {engine: main, template_kwargs: {enable_thinking: true}, sampling: {...}}
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from scale.build import build, check_dataclass, check_kwargs
from scale.checks import NonNegative, OneOf, Positive, check_fields
from scale.engine.types import BudgetForcing, Completion, Engine, GenerationRequest, SamplingParams
from scale.errors import ConfigError
from scale.ledger import Call, Ledger

MODES = ("s1", "s2")


@dataclass(frozen=True)
class SystemConfig:
    name: str
    mode: Annotated[str, OneOf(MODES)]
    engine: str
    sampling: SamplingParams = field(default_factory=SamplingParams)
    template_kwargs: dict[str, Any] = field(default_factory=dict)
    system_prompt: str | None = None
    budget: BudgetForcing | None = None
    stop: tuple[str, ...] = ()
    # The model's window, prompt included (Qwen3 40960, QwQ 32768, R1 distills 16384):
    # every call is capped at context_length - prompt tokens - context_margin new tokens.
    context_length: Positive | None = None
    context_margin: NonNegative = 0
    # False: the model gets no system message (DeepSeek-R1 distills' model card; the SCALE
    # authors send QwQ and R1 none): any system text opens the first user turn instead.
    system_message: bool = True

    def __post_init__(self) -> None:
        check_fields(self, f"systems.{self.mode}")


class System:
    """One decoding configuration bound to a live engine."""

    def __init__(self, config: SystemConfig, engine: Engine) -> None:
        self.config = config
        self.engine = engine

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def mode(self) -> str:
        return self.config.mode

    def request(self, messages: list[dict[str, str]], stage: str = "", **overrides: Any) -> GenerationRequest:
        """The request this system would send; ``overrides`` replace sampling fields."""
        cfg = self.config
        msgs = list(messages)
        if cfg.system_prompt and not (msgs and msgs[0]["role"] == "system"):
            msgs.insert(0, {"role": "system", "content": cfg.system_prompt})
        if not cfg.system_message:
            msgs = fold_system(msgs)
        sampling = dataclasses.replace(cfg.sampling, **overrides) if overrides else cfg.sampling
        budget = cfg.budget
        if budget is not None and "max_new_tokens" in overrides:
            budget = None  # an explicit short budget (e.g. scoring) is not a thinking budget
        return GenerationRequest(tuple(msgs), sampling, dict(cfg.template_kwargs), cfg.stop, budget,
                                 context_length=cfg.context_length, context_margin=cfg.context_margin,
                                 stage=stage)

    async def ask(self, messages: list[dict[str, str]], stage: str, ledger: Ledger,
                  step: int | None = None, **overrides: Any) -> Completion:
        completion = await self.engine.generate(self.request(messages, stage, **overrides))
        ledger.add(Call(stage=stage, mode=self.mode, system=self.name,
                        prompt_tokens=completion.prompt_tokens,
                        response_tokens=completion.response_tokens,
                        reasoning_tokens=completion.reasoning_tokens,
                        seconds=completion.seconds, finish_reason=completion.finish_reason,
                        step=step))
        return completion


def fold_system(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """The system messages' text put at the head of the first user turn (``system\nuser``)."""
    heads = [m["content"] for m in messages if m["role"] == "system"]
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if not heads:
        return rest
    first = next((m for m in rest if m["role"] == "user"), None)
    if first is None:
        return [{"role": "user", "content": "\n".join(heads)}, *rest]
    first["content"] = "\n".join([*heads, first["content"]])
    return rest


# Keys whose null means "the default" (a config lists ``budget: null``, ``stop: null``).
_NULL_IS_DEFAULT = ("sampling", "template_kwargs", "budget", "stop")


def system_config_from_dict(name: str, mode: str, raw: Mapping[str, Any]) -> SystemConfig:
    """Validate a ``systems.<s1|s2>`` config node; unknown keys and wrong types are refused by name.

    ``name`` is the system's name unless the node gives its own; ``mode`` is the node's key
    (s1 or s2), never a setting of it.
    """
    where = f"systems.{mode}"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {raw!r}")
    allowed = sorted(f.name for f in dataclasses.fields(SystemConfig) if f.name != "mode")
    unknown = sorted(set(raw) - set(allowed))
    if unknown:  # before check_kwargs, which would offer ``mode``: the node's key (s1 or s2) is its mode
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed {allowed}")
    given = {k: v for k, v in raw.items() if v is not None or k not in _NULL_IS_DEFAULT}
    if not given.get("name"):  # null or empty: the system's own name
        given["name"] = name
    kwargs = check_kwargs(SystemConfig, given, where, supplied=("mode",))
    kwargs["sampling"] = check_dataclass(SamplingParams, kwargs.get("sampling", {}), f"{where}.sampling")
    budget = kwargs.pop("budget", None)
    if budget:
        kwargs["budget"] = check_dataclass(BudgetForcing, budget, f"{where}.budget")
    if "template_kwargs" in kwargs:
        kwargs["template_kwargs"] = dict(kwargs["template_kwargs"])
    return SystemConfig(mode=mode, **kwargs)


@dataclass
class Systems:
    s1: System
    s2: System
    engines: dict[str, Engine]

    async def aclose(self) -> None:
        for engine in {id(e): e for e in self.engines.values()}.values():
            await engine.aclose()


def engine_node(defaults: Mapping[str, Any], own: Mapping[str, Any] | None) -> dict[str, Any]:
    """An engine's settings: the ``engine`` defaults, then its own node's non-null keys.

    A null in an engine's own node means "not set here", so a pair config can list
    ``base_url: null`` for engine=openai without the HF engine receiving it.
    """
    return {**defaults, **{k: v for k, v in dict(own or {}).items() if v is not None}}


def build_systems(systems_cfg: Mapping[str, Any], engine_defaults: Mapping[str, Any] | None = None,
                  only: set[str] | None = None) -> Systems:
    """Build S1 and S2, loading each distinct engine once (same settings -> same engine).

    ``only``: the systems the method uses; a pair's unused model is not loaded.
    """
    for key in ("engines", "s1", "s2"):
        if key not in systems_cfg:
            raise ConfigError(f"systems: missing {key!r}")
    defaults = dict(engine_defaults or {})
    s1_cfg = system_config_from_dict("s1", "s1", systems_cfg["s1"])
    s2_cfg = system_config_from_dict("s2", "s2", systems_cfg["s2"])
    if not isinstance(systems_cfg["engines"], Mapping):
        raise ConfigError(f"systems.engines: expected a mapping of name -> engine settings, "
                          f"got {systems_cfg['engines']!r}")
    engine_nodes = dict(systems_cfg["engines"])
    for name, node in engine_nodes.items():
        if node is not None and not isinstance(node, Mapping):
            raise ConfigError(f"systems.engines.{name}: expected a mapping (model: ...), got {node!r}")
    for sc in (s1_cfg, s2_cfg):
        if sc.engine not in engine_nodes:
            raise ConfigError(
                f"systems.{sc.mode}.engine names {sc.engine!r}; defined engines: {sorted(engine_nodes)}"
            )
    wanted = set(MODES) if only is None else set(only)
    unknown = wanted - set(MODES)
    if unknown:
        raise ConfigError(f"unknown system(s) {sorted(unknown)}; known: {list(MODES)}")
    built: dict[str, Engine] = {}
    by_settings: dict[str, Engine] = {}
    for sc in (s1_cfg, s2_cfg):
        if sc.mode not in wanted or sc.engine in built:
            continue
        merged = engine_node(defaults, engine_nodes[sc.engine])
        key = json.dumps(merged, sort_keys=True, default=str)
        if key not in by_settings:
            by_settings[key] = build({"name": sc.engine, **merged}, f"systems.engines.{sc.engine}")
        built[sc.engine] = by_settings[key]

    def bind(sc: SystemConfig) -> System:
        return System(sc, built[sc.engine]) if sc.engine in built else System(sc, _Unloaded(sc.mode))

    return Systems(bind(s1_cfg), bind(s2_cfg), built)


class _Unloaded(Engine):
    """Stands where a system's engine was not loaded because the method does not use it."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.name = f"unloaded-{mode}"

    async def generate(self, request: GenerationRequest) -> Completion:
        raise ConfigError(f"system {self.mode} was not loaded: the method did not declare it in uses_systems")
