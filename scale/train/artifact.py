"""The trained folder: LoRA adapter (safetensors) + tokenizer + ``difficulty.json``.

``difficulty.json`` says what the adapter is: its base model, the label definition, the
input template, the routing threshold chosen on validation (and how), the held-out
figures and how it was trained. ``difficulty=classifier difficulty.adapter=DIR`` reads it
before loading anything; a wrong folder fails with one line (:class:`AdapterError`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
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


def check_weights(folder: str | Path) -> Path:
    """``adapter_model.safetensors`` is there and whole: its header's tensors end where the file
    does (a copy cut short is found here, in one line, not after the run has started)."""
    path = Path(folder) / ADAPTER_WEIGHTS
    if not path.is_file():
        raise AdapterError(f"classifier adapter {folder}: no {ADAPTER_WEIGHTS}")
    size = path.stat().st_size
    try:
        with path.open("rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            if size < 8 or n > size - 8:
                raise ValueError(f"a header of {n} bytes, but the file holds {size}")
            header = json.loads(fh.read(n))
        end = max((int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__"), default=0)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as err:  # JSON errors are ValueErrors
        raise AdapterError(f"{path}: not a whole safetensors file ({err}); copy or train the adapter again") from None
    if 8 + n + end != size:
        raise AdapterError(f"{path}: truncated or padded: its header says {8 + n + end} bytes, the file holds "
                           f"{size}; copy or train the adapter again")
    return path


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


class _HeadReport(logging.Filter):
    """Drops transformers' LOAD REPORT when it names only the fresh ``score`` head (MISSING:
    the adapter holds the trained one) and the causal LM's unused ``lm_head`` (UNEXPECTED)."""

    expected = (("MISSING", "score."), ("UNEXPECTED", "lm_head."))

    def filter(self, record: logging.LogRecord) -> bool:
        text = re.sub(r"\x1b\[[0-9;]*m", "", record.getMessage())
        if "LOAD REPORT" not in text:
            return True
        rows = [[c.strip() for c in line.split("|")] for line in text.splitlines() if line.count("|") >= 2]
        statuses = [(cells[1], cells[0]) for cells in rows[1:] if cells[1] and not cells[1].startswith("-")]
        return not statuses or not all(any(st == s and key.startswith(k) for s, k in self.expected)
                                       for st, key in statuses)


def load_artifact(folder: str | Path, base_model: str | None = None, device: str = "auto",
                  dtype: str = "auto") -> tuple[Loaded, DifficultyCard]:
    """The classifier in eval mode on ``device``, and its card."""
    from scale.models import resolve_model

    folder = Path(folder)
    card = read_card(folder)
    check_base(card, folder, base_model)
    check_weights(folder)
    dev = pick_device(device)
    tok = load_tokenizer_for(str(folder))
    quiet = logging.getLogger("transformers.modeling_utils")
    head_report = _HeadReport()
    quiet.addFilter(head_report)
    try:
        model = base_classifier(resolve_model(card.base_model), tok.pad_token_id, dtype=torch_dtype(dtype, dev))
    finally:
        quiet.removeFilter(head_report)
    model = require_peft().PeftModel.from_pretrained(model, str(folder), is_trainable=False)
    model.to(dev).eval()
    return Loaded(model, tok, tok.pad_token_id, dev), card

