"""System 1 and System 2: named decoding configurations over engines.

A hybrid model (Qwen3) is one engine used by both systems with thinking switched off/on;
a pair (Qwen3 S1 + QwQ S2) is two engines. Systems naming the same engine share it.
``ask`` calls the engine and writes the ledger.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scale.engine.types import BudgetForcing, Completion, Engine, GenerationRequest, SamplingParams
from scale.errors import ConfigError
from scale.ledger import Call, Ledger

MODES = ("s1", "s2")


@dataclass(frozen=True)
class SystemConfig:
    name: str
    mode: str
    engine: str
    sampling: SamplingParams = field(default_factory=SamplingParams)
    template_kwargs: dict[str, Any] = field(default_factory=dict)
    system_prompt: str | None = None
    budget: BudgetForcing | None = None
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"system {self.name!r}: mode must be one of {MODES}, got {self.mode!r}")


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

    def request(self, messages: list[dict[str, str]], **overrides: Any) -> GenerationRequest:
        """The request this system would send; ``overrides`` replace sampling fields."""
        cfg = self.config
        msgs = list(messages)
        if cfg.system_prompt and not (msgs and msgs[0]["role"] == "system"):
            msgs.insert(0, {"role": "system", "content": cfg.system_prompt})
        sampling = dataclasses.replace(cfg.sampling, **overrides) if overrides else cfg.sampling
        budget = cfg.budget
        if budget is not None and "max_new_tokens" in overrides:
            budget = None  # an explicit short budget (e.g. scoring) is not a thinking budget
        return GenerationRequest(tuple(msgs), sampling, dict(cfg.template_kwargs), cfg.stop, budget)

    async def ask(self, messages: list[dict[str, str]], stage: str, ledger: Ledger,
                  step: int | None = None, **overrides: Any) -> Completion:
        completion = await self.engine.generate(self.request(messages, **overrides))
        ledger.add(Call(stage=stage, mode=self.mode, system=self.name,
                        prompt_tokens=completion.prompt_tokens,
                        response_tokens=completion.response_tokens,
                        reasoning_tokens=completion.reasoning_tokens,
                        seconds=completion.seconds, finish_reason=completion.finish_reason,
                        step=step))
        return completion


def system_config_from_dict(name: str, mode: str, raw: Mapping[str, Any]) -> SystemConfig:
    """Validate a ``systems.<s1|s2>`` config node; unknown keys are refused by name."""
    allowed = {"engine", "sampling", "template_kwargs", "system_prompt", "budget", "stop", "name"}
    unknown = set(raw) - allowed
    if unknown:
        raise ConfigError(f"systems.{mode}: unknown key(s) {sorted(unknown)}; allowed {sorted(allowed)}")
    if "engine" not in raw:
        raise ConfigError(f"systems.{mode}: missing 'engine'")
    sampling_raw = dict(raw.get("sampling") or {})
    allowed_s = {f.name for f in dataclasses.fields(SamplingParams)}
    bad = set(sampling_raw) - allowed_s
    if bad:
        raise ConfigError(f"systems.{mode}.sampling: unknown key(s) {sorted(bad)}")
    try:
        sampling = SamplingParams(**sampling_raw)
    except ConfigError as err:
        raise ConfigError(f"systems.{mode}.{err}") from None
    budget_raw = raw.get("budget")
    budget = None
    if budget_raw:
        try:
            budget = BudgetForcing(**dict(budget_raw))
        except TypeError as err:
            raise ConfigError(f"systems.{mode}.budget: {err}") from None
        except ConfigError as err:
            raise ConfigError(f"systems.{mode}.budget: {err}") from None
    return SystemConfig(
        name=str(raw.get("name") or mode), mode=mode, engine=str(raw["engine"]), sampling=sampling,
        template_kwargs=dict(raw.get("template_kwargs") or {}),
        system_prompt=raw.get("system_prompt"), budget=budget, stop=tuple(raw.get("stop") or ()),
    )
