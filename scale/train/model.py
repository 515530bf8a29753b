"""The classifier: ``AutoModelForSequenceClassification`` (2 labels) + a peft LoRA adapter.

Label 1 is "hard"; a step's score is softmax(logits)[1]. The ``score`` head is trained and
saved with the adapter (``modules_to_save``). Batches are padded on the RIGHT: the model
pools the last non-pad token, and right padding leaves every row's positions as if it
were alone, so a step scores the same whatever it is batched with.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from scale.errors import ConfigError
from scale.models.resolve import _load_tokenizer, _tried
from scale.train.common import LoraBase

HARD = 1
NUM_LABELS = 2


@dataclass(frozen=True)
class LoraSettings(LoraBase):
    """The classifier's ``lora.*``: attention projections, and the new head trained in full."""

    modules_to_save: tuple[str, ...] = ("score",)  # the classification head, trained in full


@dataclass
class Loaded:
    """A classifier ready to score: model (eval mode), tokenizer and the pad id used."""

    model: Any
    tokenizer: Any
    pad_id: int
    device: Any = field(default=None)


def torch_dtype(name: str, device: str) -> Any:
    import torch

    if name == "auto":
        return torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    if name not in ("float32", "bfloat16", "float16"):
        raise ConfigError(f"dtype must be auto, float32, bfloat16 or float16, got {name!r}")
    return getattr(torch, name)


def pick_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def load_tokenizer_for(source: str) -> Any:
    """Tokenizer with a pad token (no remote code); padding is done by :func:`pad_batch`.
    ``source`` is already resolved (an adapter folder has no config.json for resolve_model)."""
    return _load_tokenizer(source, source)


def base_classifier(source: str, pad_id: int, dtype: Any = None, config: Any = None) -> Any:
    """The base model with a fresh 2-way ``score`` head (``config``: random weights of that shape).

    ``dtype`` None is float32, never the checkpoint's own dtype (transformers 5 reads None as
    "auto": bf16 for Qwen3, and AdamW would then update the head and LoRA in pure bf16).
    Training loads float32 weights; ``train.bf16`` is mixed precision (autocast) over them.
    """
    import torch
    from transformers import AutoModelForSequenceClassification

    dtype = torch.float32 if dtype is None else dtype

    if config is not None:
        cfg = copy.deepcopy(config)
        cfg.num_labels = NUM_LABELS
        cfg.pad_token_id = pad_id
        model = AutoModelForSequenceClassification.from_config(cfg, dtype=dtype)
    else:
        try:
            model = AutoModelForSequenceClassification.from_pretrained(
                source, num_labels=NUM_LABELS, dtype=dtype, trust_remote_code=False, use_safetensors=True)
        except (OSError, ValueError) as err:  # not cached, Hub unreachable, no safetensors weights
            raise _tried(source, err) from err
    model.config.pad_token_id = pad_id
    return model


def require_peft() -> Any:
    """The ``peft`` module, or one line saying how to install it (it is in the ``train`` extra)."""
    try:
        import peft
    except ImportError:
        raise ConfigError("the difficulty classifier needs peft: pip install 'scale-tts[train]'") from None
    return peft


def add_lora(model: Any, lora: LoraSettings) -> Any:
    """Wrap ``model`` in a SEQ_CLS LoRA: base weights frozen, adapters and head trainable."""
    peft = require_peft()
    missing = [m for m in lora.target_modules
               if not any(name.split(".")[-1] == m for name, _ in model.named_modules())]
    if missing:
        raise ConfigError(f"lora.target_modules: {missing} not found in {type(model).__name__}")
    config = peft.LoraConfig(task_type=peft.TaskType.SEQ_CLS, r=lora.r, lora_alpha=lora.alpha,
                             lora_dropout=lora.dropout, target_modules=list(lora.target_modules),
                             modules_to_save=list(lora.modules_to_save))
    return peft.get_peft_model(model, config)


def pad_batch(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[Any, Any]:
    """Right-padded ``input_ids`` and ``attention_mask`` tensors."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(list(row), dtype=torch.long)
        mask[i, :len(row)] = 1
    return ids, mask


def hard_probability(logits: Any) -> Any:
    import torch

    return torch.softmax(logits.float(), dim=-1)[..., HARD]


def predict(model: Any, rows: Sequence[Sequence[int]], pad_id: int, device: Any = "cpu",
            batch_size: int = 64) -> list[float]:
    """p(hard) per row; rows are grouped by length so padding stays small."""
    import torch

    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    out = [0.0] * len(rows)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            ids, mask = pad_batch([rows[i] for i in chunk], pad_id)
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            for i, p in zip(chunk, hard_probability(logits).tolist()):
                out[i] = float(p)
    return out
