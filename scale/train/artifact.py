"""The trained folder: LoRA adapter (safetensors) + tokenizer + ``difficulty.json``.

``difficulty.json`` says what the adapter is: its base model, the label definition, the
input template, the routing threshold chosen on validation (and how), the held-out
figures and how it was trained. ``difficulty=classifier difficulty.adapter=DIR`` reads it
before loading anything; a wrong folder fails with one line (:class:`AdapterError`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scale.build import check_kwargs
from scale.errors import ConfigError, ScaleError
from scale.train.model import (
    Loaded,
    base_classifier,
    load_tokenizer_for,
    pick_device,
    require_peft,
    torch_dtype,
)
from scale.train.template import Template

CARD = "difficulty.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
CARD_VERSION = 1


class AdapterError(ScaleError):
    """A classifier folder is missing, incomplete or does not fit the configuration."""


@dataclass
class DifficultyCard:
    base_model: str  # as configured at training (embedded name, folder or Hub id)
    label: dict[str, Any]  # {"kind": "measured" | "prompted", "definition": ...}
    template: dict[str, Any]  # Template.to_dict()
    threshold: dict[str, Any]  # {"value", "rule", "how", "split"}
    lora: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)  # per split: auroc, accuracy, ece, brier ...
    training: dict[str, Any] = field(default_factory=dict)  # traces, epochs, world size, ranks, seconds
    num_labels: int = 2
    hard_label: int = 1
    card_version: int = CARD_VERSION

    @property
    def tau(self) -> float:
        return float(self.threshold["value"])

    def template_obj(self) -> Template:
        return Template.from_dict(self.template)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def write_card(folder: Path, card: DifficultyCard) -> None:
    tmp = folder / f".{CARD}.tmp"
    tmp.write_text(json.dumps(card.to_dict(), indent=2, ensure_ascii=False, default=float) + "\n")
    tmp.replace(folder / CARD)


def read_card(folder: str | Path) -> DifficultyCard:
    folder = Path(folder)
    if not folder.is_dir():
        raise AdapterError(f"classifier adapter {folder}: no such folder (train one with "
                           "accelerate launch scripts/train_difficulty.py)")
    path = folder / CARD
    if not path.is_file():
        raise AdapterError(f"classifier adapter {folder}: no {CARD} (not a folder written by "
                           "scripts/train_difficulty.py)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise AdapterError(f"{path}: malformed JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(raw, dict):
        raise AdapterError(f"{path}: expected a JSON object")
    if raw.get("card_version", CARD_VERSION) != CARD_VERSION:
        raise AdapterError(f"{path}: card_version {raw.get('card_version')!r}, this code reads {CARD_VERSION}")
    try:
        card = DifficultyCard(**check_kwargs(DifficultyCard, raw, str(path)))
        card.template_obj()
        tau = card.tau
    except (ConfigError, KeyError, TypeError, ValueError) as err:
        raise AdapterError(f"{path}: {err}") from None
    if not 0 <= tau <= 1:
        raise AdapterError(f"{path}: threshold.value must be in [0, 1], got {tau}")
    return card


def check_base(card: DifficultyCard, folder: str | Path, base_model: str | None) -> None:
    """The configured base model (if any) must be the one the adapter was trained on."""
    if base_model and base_model != card.base_model:
        raise AdapterError(f"classifier adapter {folder} was trained on base model {card.base_model!r}, "
                           f"but difficulty.base_model is {base_model!r}")


def finish_artifact(folder: Path, tokenizer: Any, card: DifficultyCard) -> None:
    """After the adapter is saved: the tokenizer, then the card (its presence = complete).

    ``Trainer.save_model`` also leaves ``training_args.bin`` (a pickle); the folder keeps
    only safetensors and JSON, so it goes.
    """
    (folder / "training_args.bin").unlink(missing_ok=True)
    tokenizer.save_pretrained(folder)
    write_card(folder, card)


def load_artifact(folder: str | Path, base_model: str | None = None, device: str = "auto",
                  dtype: str = "auto") -> tuple[Loaded, DifficultyCard]:
    """The classifier in eval mode on ``device``, and its card."""
    from scale.models import resolve_model

    folder = Path(folder)
    card = read_card(folder)
    check_base(card, folder, base_model)
    if not (folder / ADAPTER_WEIGHTS).is_file():
        raise AdapterError(f"classifier adapter {folder}: no {ADAPTER_WEIGHTS}")
    dev = pick_device(device)
    tok = load_tokenizer_for(str(folder))
    model = base_classifier(resolve_model(card.base_model), tok.pad_token_id, dtype=torch_dtype(dtype, dev))
    model = require_peft().PeftModel.from_pretrained(model, str(folder), is_trainable=False)
    model.to(dev).eval()
    return Loaded(model, tok, tok.pad_token_id, dev), card

