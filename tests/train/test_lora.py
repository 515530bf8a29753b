"""LoRA training on the tiny Qwen3: frozen base, moving adapters and head, falling loss,
identical scores after save -> reload, resume from a checkpoint, no silent overwrite."""

from __future__ import annotations

import pytest
import torch

from scale.errors import ConfigError
from scale.train.artifact import load_artifact, read_card
from scale.train.config import TrainConfig
from scale.train.data import RightPadCollator, TokenRows, load_traces
from scale.train.model import LoraSettings, add_lora, base_classifier, load_tokenizer_for, predict
from scale.train.run import train
from scale.train.template import Template
from scale.train.trainer import weighted_trainer_class
from tests.helpers.optimizer_steps import count_optimizer_steps

pytestmark = pytest.mark.tiny

SETTINGS = {"model": "tiny-qwen3", "report_to": "none", "max_length": 96,
            "train": {"epochs": 2, "batch_size": 8, "lr": 5e-3, "logging_steps": 1, "warmup_ratio": 0.0}}


def config(traces, out, **extra):
    raw = {**SETTINGS, "traces": str(traces), "output_dir": str(out), **extra}
    raw["train"] = {**SETTINGS["train"], **extra.get("train", {})}
    return TrainConfig.from_dict(raw)


@pytest.fixture(scope="module")
def trained(traces_dir, tmp_path_factory):
    return train(config(traces_dir, tmp_path_factory.mktemp("adapter") / "adapter"))


def test_base_frozen_adapter_and_head_move(traces_dir, tiny_model_dir, tmp_path):
    tok = load_tokenizer_for(tiny_model_dir)
    torch.manual_seed(0)
    model = add_lora(base_classifier(tiny_model_dir, tok.pad_token_id), LoraSettings(r=4, alpha=8, dropout=0.0))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "modules_to_save" in n for n in trainable)
    assert any("modules_to_save" in n and "score" in n for n in trainable)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    split = load_traces(traces_dir).splits["train"]
    rows = TokenRows(split, Template(max_length=96), tok)
    from transformers import TrainingArguments

    args = TrainingArguments(output_dir=str(tmp_path), max_steps=3, per_device_train_batch_size=8,
                             learning_rate=1e-2, report_to=[], save_strategy="no", remove_unused_columns=False,
                             dataloader_pin_memory=False)
    weighted_trainer_class()(model=model, args=args, train_dataset=rows,
                             data_collator=RightPadCollator(tok.pad_token_id), weights=[1.0, 2.0]).train()
    after = dict(model.named_parameters())
    frozen = [n for n in before if n not in trainable]
    assert frozen and all(torch.equal(before[n], after[n]) for n in frozen)
    moved = {n for n in trainable if not torch.equal(before[n], after[n])}
    assert any("lora_B" in n for n in moved) and any("lora_A" in n for n in moved)
    assert any("modules_to_save" in n and "score" in n for n in moved)


def test_loss_falls_on_a_learnable_labelling(trained):
    losses = [h["loss"] for h in trained.history if "loss" in h]
    assert len(losses) >= 4
    assert sum(losses[-2:]) / 2 < 0.5 * sum(losses[:2]) / 2
    epochs = trained.card.metrics["epochs"]
    assert len(epochs) == 2 and epochs[-1]["eval_loss"] < epochs[0]["eval_loss"]
    assert trained.card.metrics["validation"]["auroc"] > 0.9


def test_card_records_what_was_trained(trained, traces_dir):
    card = read_card(trained.folder)
    assert card.base_model == "tiny-qwen3" and card.label["kind"] == "synthetic"
    assert card.label["systems"] == {"s1": ["tiny-qwen3"], "s2": ["tiny-qwen3"]}  # copied from the traces
    assert card.template["max_length"] == 96 and "left" in card.template["truncation"]
    assert card.threshold["rule"] == "youden" and 0 <= card.tau <= 1 and card.threshold["how"]
    assert card.training["world_size"] == 1 and card.training["ranks"][0]["rank"] == 0
    balance = card.training["class_balance"]["train"]
    assert balance["hard"] > 0 and balance["easy"] > 0
    assert card.training["class_weights"][1] > card.training["class_weights"][0]  # hard is the minority
    files = {p.name for p in trained.folder.iterdir()}
    assert {"adapter_model.safetensors", "adapter_config.json", "difficulty.json", "checkpoints"} <= files
    assert not any(name.endswith(".bin") for name in files)


def test_save_then_reload_gives_identical_scores(trained, traces_dir):
    split = load_traces(traces_dir).splits["validation"]
    rows = TokenRows(split, Template(max_length=96), trained.tokenizer)
    trained.model.eval()
    in_memory = predict(trained.model, rows.ids, trained.tokenizer.pad_token_id, "cpu", batch_size=4)
    loaded, _ = load_artifact(trained.folder, device="cpu")
    reloaded = predict(loaded.model, rows.ids, loaded.pad_id, "cpu", batch_size=4)
    assert reloaded == in_memory
    assert all(0.0 <= p <= 1.0 for p in reloaded)


def test_resume_continues_from_the_last_checkpoint(trained, traces_dir):
    """resume=true with one more epoch takes only that epoch's optimiser steps: a run that
    ignored the checkpoint would reach the same global step and card, but take all of them."""
    before = trained.card.training["global_steps"]
    with count_optimizer_steps() as taken:
        again = train(config(traces_dir, trained.folder, resume=True, train={"epochs": 3}))
    assert again.card.training["resumed_from"].endswith(f"checkpoint-{before}")
    assert again.card.training["global_steps"] == before * 3 // 2
    assert taken[0] == before // 2, f"{taken[0]} optimiser steps after resuming at {before} of {before * 3 // 2}"


def test_an_existing_adapter_is_not_overwritten_silently(trained, traces_dir):
    with pytest.raises(ConfigError, match="resume=true continues it, overwrite=true replaces it"):
        train(config(traces_dir, trained.folder))
