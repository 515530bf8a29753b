"""Typed settings of ``scripts/train_difficulty.py`` (``configs/train_difficulty.yaml``).

Every key is checked by name and type where the YAML is read (``lora.r: expected an
integer, got 'x'``); the meaning of each key is commented in the YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from scale.build import check_nested
from scale.errors import ConfigError
from scale.outputs import check_output_dir
from scale.train.common import TrainBase, check_report
from scale.train.metrics import RULES
from scale.train.model import LoraSettings
from scale.train.trainer import WEIGHTINGS


@dataclass(frozen=True)
class TrainSettings(TrainBase):
    """The classifier's ``train.*``: the shared keys (defaults as there) plus evaluation and class weights."""

    eval_batch_size: int = 16
    class_weights: str = "balanced"
    dataloader_workers: int = 0

    positive: ClassVar[tuple[str, ...]] = (*TrainBase.positive, "eval_batch_size")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.class_weights not in WEIGHTINGS:
            raise ConfigError(f"train.class_weights must be one of {WEIGHTINGS}, got {self.class_weights!r}")


@dataclass(frozen=True)
class ThresholdSettings:
    rule: str = "youden"
    value: float = 0.5

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ConfigError(f"threshold.rule must be one of {RULES}, got {self.rule!r}")
        if not 0 <= self.value <= 1:
            raise ConfigError(f"threshold.value must be in [0, 1], got {self.value}")


@dataclass(frozen=True)
class TrainConfig:
    model: str
    traces: str
    output_dir: str
    resume: bool = False
    overwrite: bool = False
    seed: int = 0
    max_length: int = 512
    answers: bool = False
    lora: LoraSettings = field(default_factory=LoraSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    threshold: ThresholdSettings = field(default_factory=ThresholdSettings)
    report_to: str = "wandb_offline"
    wandb_project: str = "scale-difficulty"
    run_name: str | None = None

    def __post_init__(self) -> None:
        check_report(self.report_to)
        check_output_dir(self.output_dir, "output_dir")  # before any model is loaded

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TrainConfig:
        model = raw.get("model")
        if not isinstance(model, str) or not model.strip():
            # No default: a shipped one (a random test model) would train a useless router.
            raise ConfigError(f"train_difficulty: model is required (the base model to fine-tune, e.g. "
                              f"model=Qwen/Qwen3-0.6B), got {model!r}")
        nested = {"lora": LoraSettings, "train": TrainSettings, "threshold": ThresholdSettings}
        return check_nested(cls, raw, nested, "train_difficulty", "train config")
