"""The classifier trains float32 weights whatever dtype the checkpoint was saved in (tier 2).

    pytest tests/train/test_model_dtype.py

transformers 5 reads ``dtype=None`` as "auto" (the checkpoint's dtype: bf16 for Qwen3), so
with ``train.bf16=false`` AdamW would update the score head and the LoRA weights in pure bf16.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from scale.train.config import TrainConfig

pytestmark = pytest.mark.tiny


@pytest.fixture(scope="module")
def bf16_checkpoint(tiny_model_dir, tmp_path_factory):
    """tiny-qwen3 saved in bfloat16, as Qwen3 checkpoints are."""
    from transformers import AutoModelForCausalLM

    out = tmp_path_factory.mktemp("bf16") / "tiny-qwen3-bf16"
    AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.bfloat16).save_pretrained(out)
    src = Path(tiny_model_dir)
    for f in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        if (src / f).exists():
            shutil.copy(src / f, out / f)
    return out


def test_bf16_false_trains_float32_head_and_lora(bf16_checkpoint, traces_dir, tmp_path):
    from scale.train.run import train

    assert '"bfloat16"' in (bf16_checkpoint / "config.json").read_text()
    done = train(TrainConfig.from_dict({"model": str(bf16_checkpoint), "traces": str(traces_dir),
                                        "output_dir": str(tmp_path / "out"), "report_to": "none", "max_length": 64,
                                        "train": {"max_steps": 1, "bf16": False}}))
    trainable = {n: p.dtype for n, p in done.model.named_parameters() if p.requires_grad}
    assert any("score" in n for n in trainable) and any("lora_" in n for n in trainable)
    assert set(trainable.values()) == {torch.float32}, {n: d for n, d in trainable.items() if d != torch.float32}
    assert {p.dtype for p in done.model.parameters()} == {torch.float32}
