"""Typed settings of ``scripts/sft_on_traces.py`` (``configs/sft.yaml``).

Every key is checked by name and type where the YAML is read (``train.lr: expected a number,
got 'x'``); the meaning of each key is commented in the YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scale.build import check_dataclass, check_kwargs
from scale.errors import ConfigError

REPORTS = ("wandb_offline", "wandb", "tensorboard", "none")


@dataclass(frozen=True)
class DataSettings:
    only_correct: bool = True
    skip_fallback: bool = True
    drop_failures: tuple[str, ...] = ("step_truncated", "context_overflow", "no_answer")
    min_steps: int = 1
    max_per_problem: int | None = None
    max_tokens: int | None = None
    step_format: str = "Step {index}: {step}\n{solution}"
    step_join: str = "\n\n"

    def __post_init__(self) -> None:
        if self.min_steps < 1:
            raise ConfigError(f"data.min_steps must be >= 1, got {self.min_steps}")
        for key in ("max_per_problem", "max_tokens"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ConfigError(f"data.{key} must be >= 1 or null, got {value}")
        for name in ("{step}", "{solution}"):
            if name not in self.step_format:
                raise ConfigError(f"data.step_format must hold {name}, got {self.step_format!r}")


@dataclass(frozen=True)
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

    def __post_init__(self) -> None:
        if self.r < 1 or self.alpha < 1:
            raise ConfigError(f"lora.r and lora.alpha must be >= 1, got {self.r} and {self.alpha}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"lora.dropout must be in [0, 1), got {self.dropout}")
        if not self.target_modules:
            raise ConfigError("lora.target_modules must name at least one module")


@dataclass(frozen=True)
class TrainSettings:
    epochs: float = 3.0
    max_steps: int = -1
    batch_size: int = 1
    grad_accum: int = 8
    lr: float = 1e-4
    weight_decay: float = 0.0
    warmup_ratio: float = 0.03
    max_length: int = 16384
    bf16: bool = False
    gradient_checkpointing: bool = False
    logging_steps: int = 10
    save_total_limit: int = 2

    def __post_init__(self) -> None:
        for key in ("batch_size", "grad_accum", "logging_steps", "save_total_limit", "max_length"):
            if getattr(self, key) < 1:
                raise ConfigError(f"train.{key} must be >= 1, got {getattr(self, key)}")
        if self.epochs <= 0 and self.max_steps <= 0:
            raise ConfigError("train.epochs or train.max_steps must be > 0")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"train.warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.lr <= 0:
            raise ConfigError(f"train.lr must be > 0, got {self.lr}")


@dataclass(frozen=True)
class SFTSettings:
    base: str
    traces: tuple[str, ...]
    output_dir: str
    prompts: Mapping[str, Any] | None = None
    resume: bool = False
    overwrite: bool = False
    seed: int = 0
    data: DataSettings = field(default_factory=DataSettings)
    lora: LoraSettings = field(default_factory=LoraSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    report_to: str = "wandb_offline"
    wandb_project: str = "scale-sft"
    run_name: str | None = None

    def __post_init__(self) -> None:
        if not self.traces:
            raise ConfigError("traces: give at least one run dir (traces=[runs/a,runs/b])")
        if self.report_to not in REPORTS:
            raise ConfigError(f"report_to must be one of {REPORTS}, got {self.report_to!r}")

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SFTSettings:
        if not isinstance(raw, Mapping):
            raise ConfigError(f"sft config: expected a mapping, got {raw!r}")
        top = dict(raw)
        if isinstance(top.get("traces"), str):  # traces=runs/x: one run dir
            top["traces"] = [top["traces"]]
        nested = {"data": DataSettings, "lora": LoraSettings, "train": TrainSettings}
        built = {k: check_dataclass(c, top.pop(k) or {}, k) for k, c in nested.items() if k in top}
        return cls(**check_kwargs(cls, top, "sft"), **built)
