"""Train the difficulty classifier: traces -> LoRA sequence classifier -> adapter + difficulty.json.

    accelerate launch scripts/train_difficulty.py model=Qwen/Qwen3-0.6B traces=runs/traces output_dir=runs/difficulty/adapter

Phases: check the output folder (nothing overwritten silently; ``resume=true`` continues
from the last checkpoint), load and tokenise the traces, build base + LoRA, train with the
class-weighted ``Trainer`` (evaluation each epoch: AUROC, accuracy, ECE, Brier), pick the
routing threshold on the validation split, and write the adapter and ``difficulty.json``.
Every rank trains; only rank 0 writes. The ranks that took part (rank, world size, pid,
host, examples seen) are gathered into ``difficulty.json``, so a launch that silently ran
one process shows it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scale.train import metrics as m
from scale.train.artifact import CARD, DifficultyCard, finish_artifact
from scale.train.common import (
    check_output,
    check_world_size,
    clear_output,
    report_to,
    shared_args,
    trainer_args,
)
from scale.train.config import TrainConfig
from scale.train.data import META, RightPadCollator, TokenRows, load_traces
from scale.train.model import add_lora, base_classifier, load_tokenizer_for
from scale.train.template import Template
from scale.train.trainer import (
    class_weights,
    compute_metrics,
    probabilities,
    weighted_trainer_class,
)

log = logging.getLogger(__name__)


def _training_args(cfg: TrainConfig, out: Path, reports: list[str]) -> Any:
    import torch
    from transformers import TrainingArguments

    t = cfg.train
    return trainer_args(
        TrainingArguments, **shared_args(cfg, t, out), per_device_eval_batch_size=t.eval_batch_size,
        eval_strategy="epoch", save_strategy="epoch", logging_strategy="steps",
        dataloader_num_workers=t.dataloader_workers, dataloader_pin_memory=torch.cuda.is_available(),
        remove_unused_columns=False, report_to=reports, ddp_find_unused_parameters=False,
    )


def _label_info(meta: dict[str, Any]) -> dict[str, Any]:
    label = meta.get("label")
    if isinstance(label, dict):
        return label
    return {"kind": "unknown", "definition": f"no {META} beside the traces: label meaning not recorded"}


@dataclass
class Trained:
    """What rank 0 wrote (the card) and the trained model with its tokenizer, in memory."""

    card: DifficultyCard
    model: Any
    tokenizer: Any
    folder: Path
    history: list[dict[str, Any]]  # Trainer's log history (training loss by step, evaluations)


def train(cfg: TrainConfig) -> Trained | None:
    """Run every phase; returns what was written on rank 0 (None on other ranks)."""
    from accelerate import PartialState
    from accelerate.utils import gather_object
    from transformers import set_seed

    from scale.models import resolve_model

    start = time.perf_counter()
    out = Path(cfg.output_dir)
    args = _training_args(cfg, out, report_to(cfg.report_to, cfg.wandb_project, out))
    state = PartialState()
    check_world_size(state)
    resume_from = check_output(out, (CARD,), cfg.resume, cfg.overwrite)
    if state.is_main_process and cfg.overwrite and not cfg.resume:
        clear_output(out, (CARD,))
    state.wait_for_everyone()

    traces = load_traces(cfg.traces, optional=("test",))  # train + validation, and test when there is one
    template = Template(max_length=cfg.max_length, answers=cfg.answers)
    source = resolve_model(cfg.model)
    tok = load_tokenizer_for(source)
    train_rows = TokenRows(traces.splits["train"], template, tok)
    val_rows = TokenRows(traces.splits["validation"], template, tok)
    weights = class_weights(train_rows.labels, cfg.train.class_weights)
    log.info("rank %d/%d: %d training and %d validation steps (pid %d)", state.process_index,
             state.num_processes, len(train_rows), len(val_rows), os.getpid())

    set_seed(cfg.seed)  # the new score head and the LoRA weights start alike on every rank and rerun
    model = add_lora(base_classifier(source, tok.pad_token_id), cfg.lora)
    trainer = weighted_trainer_class()(
        model=model, args=args, train_dataset=train_rows, eval_dataset=val_rows,
        data_collator=RightPadCollator(tok.pad_token_id), compute_metrics=compute_metrics, weights=weights)
    result = trainer.train(resume_from_checkpoint=resume_from)
    ranks = gather_object([{"rank": state.process_index, "world_size": state.num_processes, "pid": os.getpid(),
                            "host": socket.gethostname(), "device": str(args.device),
                            "train_rows": len(train_rows)}])

    # Threshold and held-out figures: predictions gathered over every rank by Trainer.
    figures: dict[str, Any] = {}
    val_p = probabilities(trainer.predict(val_rows).predictions)
    threshold = m.choose_threshold(val_p, val_rows.labels, cfg.threshold.rule, cfg.threshold.value)
    figures["validation"] = m.summary(val_p, val_rows.labels, threshold.value)
    if "test" in traces.splits:
        test_rows = TokenRows(traces.splits["test"], template, tok)
        test_p = probabilities(trainer.predict(test_rows).predictions)
        figures["test"] = m.summary(test_p, test_rows.labels, threshold.value)
    figures["epochs"] = [h for h in trainer.state.log_history if "eval_auroc" in h]
    # Every rank joins the save (FSDP gathers the sharded adapter); Trainer writes on rank 0 only.
    trainer.save_model(str(out))
    if not state.is_main_process:
        state.wait_for_everyone()
        return None
    card = DifficultyCard(
        base_model=cfg.model, label=_label_info(traces.meta), template=template.to_dict(),
        threshold=asdict(threshold), lora=cfg.lora.to_dict(), metrics=figures,
        training={"traces": str(traces.path), "rows": {k: len(v) for k, v in traces.splits.items()},
                  "class_balance": {k: dict(zip(("easy", "hard"), v.counts)) for k, v in traces.splits.items()},
                  "class_weights": weights, "epochs": cfg.train.epochs, "global_steps": result.global_step,
                  "resumed_from": resume_from, "world_size": state.num_processes, "ranks": ranks,
                  "bf16": cfg.train.bf16, "gradient_checkpointing": cfg.train.gradient_checkpointing,
                  "train_loss": result.training_loss, "seconds": round(time.perf_counter() - start, 2),
                  "seed": cfg.seed})
    finish_artifact(out, tok, card)
    log.info("wrote %s (tau %.3f, validation AUROC %.3f)", out, threshold.value, figures["validation"]["auroc"])
    state.wait_for_everyone()
    return Trained(card, trainer.model, tok, out, list(trainer.state.log_history))


