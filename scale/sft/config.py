"""Typed settings of ``scripts/sft_on_traces.py`` (``configs/sft.yaml``).

Every key is checked by name and type where the YAML is read (``train.lr: expected a number,
got 'x'``); the meaning of each key is commented in the YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from scale.build import check_nested
from scale.errors import ConfigError
from scale.outputs import check_output_dir
from scale.train.common import LoraBase, TrainBase, check_report


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
class LoraSettings(LoraBase):
    """SFT's ``lora.*``: every attention and MLP projection by default."""

    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class TrainSettings(TrainBase):
    """SFT's ``train.*``: the shared keys with SFT's defaults, and the longest example kept."""

    batch_size: int = 1
    grad_accum: int = 8
    lr: float = 1e-4
    warmup_ratio: float = 0.03
    max_length: int = 16384

    positive: ClassVar[tuple[str, ...]] = (*TrainBase.positive, "max_length")


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
        check_report(self.report_to)
        check_output_dir(self.output_dir, "output_dir")  # before any model is loaded

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SFTSettings:
        if isinstance(raw, Mapping) and isinstance(raw.get("traces"), str):  # traces=runs/x: one run dir
            raw = {**raw, "traces": [raw["traces"]]}
        nested = {"data": DataSettings, "lora": LoraSettings, "train": TrainSettings}
        return check_nested(cls, raw, nested, "sft", "sft config")
