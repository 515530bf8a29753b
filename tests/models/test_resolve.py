"""Model-name resolution: embedded models, local folders, Hub ids, one-line failures."""

from __future__ import annotations

import time

import pytest

from scale.errors import ModelNotFoundError
from scale.models import load_model, load_tokenizer, resolve_model


def test_embedded_smollm2_is_a_safetensors_folder(smollm2_dir):
    from pathlib import Path

    folder = Path(smollm2_dir)
    assert (folder / "model.safetensors").is_file()
    assert (folder / "config.json").is_file()
    assert not list(folder.glob("*.bin")) and not list(folder.glob("*.gguf"))


def test_embedded_load_is_fast_after_conversion(smollm2_dir):
    start = time.perf_counter()
    model = load_model("smollm2-135m-instruct")
    assert time.perf_counter() - start < 10  # the GGUF conversion itself takes ~30 s
    assert model.config.model_type == "llama" and not model.training


def test_tiny_qwen3_has_real_thinking_switch(tiny_model_dir):
    tok = load_tokenizer("tiny-qwen3")
    msgs = [{"role": "user", "content": "hi"}]
    on = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False, enable_thinking=True)
    off = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False, enable_thinking=False)
    assert on.endswith("<|im_start|>assistant\n")
    assert off.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    ids = tok.convert_tokens_to_ids(["<think>", "</think>"])
    assert all(isinstance(i, int) and i >= 49152 for i in ids)
    assert tok.padding_side == "left" and tok.pad_token is not None


def test_local_folder_resolves(tiny_model_dir):
    assert resolve_model(tiny_model_dir) == tiny_model_dir


def test_hub_id_passes_through():
    assert resolve_model("Qwen/Qwen3-32B") == "Qwen/Qwen3-32B"


@pytest.mark.parametrize("name", ["no-such-model", "./missing/dir", ""])
def test_unknown_model_one_line(name):
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model(name)
    assert "\n" not in str(info.value)


def test_folder_without_config(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        resolve_model(str(tmp_path))


def test_uncached_hub_id_fails_in_one_line():
    with pytest.raises(ModelNotFoundError) as info:
        load_tokenizer("nobody-xyz/definitely-not-a-model")
    msg = str(info.value)
    assert "'nobody-xyz/definitely-not-a-model'" in msg and "\n" not in msg
