"""Typed settings of ``scripts/sft_on_traces.py`` (``configs/sft.yaml``).

Every key is checked by name and type where the YAML is read (``train.lr: expected a number,
got 'x'``); the meaning of each key is commented in the YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scale.build import check_nested
from scale.checks import Positive, check_fields
from scale.errors import ConfigError
from scale.train.common import LoraBase, RunBase, TrainBase


@dataclass(frozen=True)
class DataSettings:
    only_correct: bool = True
    skip_fallback: bool = True
    drop_failures: tuple[str, ...] = ("step_truncated", "context_overflow", "no_answer")
    min_steps: Positive = 1
    max_per_problem: Positive | None = None
    max_tokens: Positive | None = None
    step_format: str = "Step {index}: {step}\n{solution}"
    step_join: str = "\n\n"

    def __post_init__(self) -> None:
        check_fields(self, "data")
        for name in ("{step}", "{solution}"):
            if name not in self.step_format:
                raise ConfigError(f"data.step_format must hold {name}, got {self.step_format!r}")


@dataclass(frozen=True)
class LoraSettings(LoraBase):
    """SFT's ``lora.*``: every attention and MLP projection by default."""

    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class TrainSettings(TrainBase):
    """SFT's ``train.*``: the shared keys with SFT's defaults (and their checks), and the longest example kept."""

    batch_size: int = 1
    grad_accum: int = 8
    lr: float = 1e-4
    warmup_ratio: float = 0.03
    max_length: Positive = 16384


@dataclass(frozen=True)
class SFTSettings(RunBase):
    """The top level: the base model, the traces and the groups above (``output_dir``,
    ``resume``, ``report_to``... as :class:`~scale.train.common.RunBase`)."""

    base: str
    traces: tuple[str, ...]
    prompts: Mapping[str, Any] | None = None
    data: DataSettings = field(default_factory=DataSettings)
    lora: LoraSettings = field(default_factory=LoraSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    wandb_project: str = "scale-sft"

    def __post_init__(self) -> None:
        if not self.traces:
            raise ConfigError("traces: give at least one run dir (traces=[runs/a,runs/b])")
        super().__post_init__()

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SFTSettings:
        if isinstance(raw, Mapping) and isinstance(raw.get("traces"), str):  # traces=runs/x: one run dir
            raw = {**raw, "traces": [raw["traces"]]}
        nested = {"data": DataSettings, "lora": LoraSettings, "train": TrainSettings}
        return check_nested(cls, raw, nested, "sft", "sft config")
