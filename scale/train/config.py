"""Typed settings of ``scripts/train_difficulty.py`` (``configs/train_difficulty.yaml``).

Every key is checked by name and type where the YAML is read (``lora.r: expected an
integer, got 'x'``); the meaning of each key is commented in the YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from scale.build import check_nested
from scale.checks import OneOf, Positive, ZeroToOne, check_fields
from scale.errors import ConfigError
from scale.train.common import RunBase, TrainBase
from scale.train.metrics import RULES
from scale.train.model import LoraSettings
from scale.train.trainer import WEIGHTINGS


@dataclass(frozen=True)
class TrainSettings(TrainBase):
    """The classifier's ``train.*``: the shared keys (defaults as there) plus evaluation and class weights."""

    eval_batch_size: Positive = 16
    class_weights: Annotated[str, OneOf(WEIGHTINGS)] = "balanced"
    dataloader_workers: int = 0


@dataclass(frozen=True)
class ThresholdSettings:
    rule: Annotated[str, OneOf(RULES)] = "youden"
    value: ZeroToOne = 0.5

    def __post_init__(self) -> None:
        check_fields(self, "threshold")


@dataclass(frozen=True)
class TrainConfig(RunBase):
    """The top level: the model and traces, the template's settings and the groups above
    (``output_dir``, ``resume``, ``report_to``... as :class:`~scale.train.common.RunBase`)."""

    model: str
    traces: str
    max_length: int = 512
    answers: bool = False
    lora: LoraSettings = field(default_factory=LoraSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    threshold: ThresholdSettings = field(default_factory=ThresholdSettings)
    wandb_project: str = "scale-difficulty"

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TrainConfig:
        model = raw.get("model")
        if not isinstance(model, str) or not model.strip():
            # No default: a shipped one (a random test model) would train a useless router.
            raise ConfigError(f"train_difficulty: model is required (the base model to fine-tune, e.g. "
                              f"model=Qwen/Qwen3-0.6B), got {model!r}")
        nested = {"lora": LoraSettings, "train": TrainSettings, "threshold": ThresholdSettings}
        return check_nested(cls, raw, nested, "train_difficulty", "train config")
