"""LoRA SFT of a chat model on SCALE traces with trl's ``SFTTrainer`` (``scripts/sft_on_traces.py``).

Every rank builds the same examples (deterministic, from the run dirs); only rank 0 writes:
``OUTPUT_DIR/{adapter_model.safetensors, adapter_config.json, sft.json, sft_data.jsonl,
dataset_card.md, dataset_card.json}`` and ``OUTPUT_DIR/checkpoints/`` (``resume=true``
continues from the last one). The adapter's ``base_model_name_or_path`` is the configured
``base`` name, so ``engine.adapter`` / ``systems.engines.<name>.adapter`` can check it.
The loss covers the assistant response only (prompt-completion data).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from scale.errors import ConfigError, DataError
from scale.models.resolve import _load_tokenizer, load_model, resolve_model
from scale.prompts import Prompts
from scale.sft.config import SFTSettings
from scale.sft.data import build_examples, write_dataset
from scale.train.common import (
    check_output,
    check_world_size,
    clear_output,
    report_to,
    shared_args,
    trainer_args,
)

log = logging.getLogger(__name__)

ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json")


def _training_args(cfg: SFTSettings, out: Path) -> Any:
    from trl import SFTConfig

    t = cfg.train
    return trainer_args(
        SFTConfig, **shared_args(cfg, t, out), lr_scheduler_type="cosine",
        save_strategy="epoch" if t.max_steps <= 0 else "steps",
        save_steps=max(1, t.max_steps) if t.max_steps > 0 else 500,
        max_length=t.max_length, completion_only_loss=True, packing=False,
        report_to=report_to(cfg.report_to, cfg.wandb_project, out),
    )


def _tokenizer(base: str):
    # Not load_tokenizer (left padding, for generation): the tokenizer keeps its own side; trl pads right.
    tok = _load_tokenizer(resolve_model(base), base)
    if tok.chat_template is None:
        raise ConfigError(f"base model {base!r} has no chat template: SFT data are chats")
    return tok


def train(cfg: SFTSettings) -> dict[str, Any] | None:
    """Build the data, train the adapter; returns the run's summary on rank 0 (None elsewhere)."""
    from accelerate import PartialState
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTTrainer

    out = Path(cfg.output_dir)
    args = _training_args(cfg, out)
    state = PartialState()
    check_world_size(state)
    resume = check_output(out, ADAPTER_FILES, cfg.resume, cfg.overwrite)
    prompts = Prompts.from_config(cfg.prompts, "prompts")
    tokenizer = _tokenizer(cfg.base)
    examples, card = build_examples(cfg.traces, cfg.data, prompts, tokenizer)
    log.info("rank %d/%d, SFT data: %s", state.process_index, state.num_processes, card.summary())
    if not examples:
        raise DataError(f"no training examples left: {card.summary()} (see the data.* filters in configs/sft.yaml)")
    state.wait_for_everyone()  # every rank has checked the output folder before rank 0 writes into it
    if state.is_main_process:
        if cfg.overwrite and not cfg.resume:
            clear_output(out, ())  # the adapter files are replaced when the new one is saved
        write_dataset(out, examples, card, cfg.data)

    # On the CPU in eval mode, as from_pretrained leaves it: the Trainer moves it and calls train().
    model = load_model(cfg.base, dtype="bfloat16" if cfg.train.bf16 else "float32")
    lora = LoraConfig(task_type="CAUSAL_LM", r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=list(cfg.lora.target_modules))
    dataset = Dataset.from_list([{"prompt": e["prompt"], "completion": e["completion"]} for e in examples])
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer, peft_config=lora)
    result = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(str(out))  # the adapter only (safetensors), written by rank 0
    state.wait_for_everyone()
    if not state.is_main_process:
        return None
    _set_base_name(out, cfg.base)
    (out / "training_args.bin").unlink(missing_ok=True)  # a pickle nobody here reads (sft.json says it all)
    summary = {
        "base": cfg.base, "traces": list(cfg.traces), "examples": len(examples), "card": card.to_dict(),
        "steps": int(result.global_step), "train_loss": float(result.training_loss),
        "log": [r for r in trainer.state.log_history if "loss" in r],
        "world_size": state.num_processes, "resumed_from": resume,
        "lora": {"r": cfg.lora.r, "alpha": cfg.lora.alpha, "target_modules": list(cfg.lora.target_modules)},
    }
    (out / "sft.json").write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    return summary


def _set_base_name(out: Path, base: str) -> None:
    """Record the base by the name the user gave (not this machine's cache path)."""
    path = out / "adapter_config.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["base_model_name_or_path"] = base
    path.write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
