"""Model-name resolution: embedded models, local folders, Hub ids, one-line failures."""

from __future__ import annotations

import pytest

from scale.errors import ModelNotFoundError
from scale.models import load_model, load_tokenizer, resolve_model


def test_embedded_smollm2_is_a_safetensors_folder(smollm2_dir):
    from pathlib import Path

    folder = Path(smollm2_dir)
    assert (folder / "model.safetensors").is_file()
    assert (folder / "config.json").is_file()
    assert not list(folder.glob("*.bin")) and not list(folder.glob("*.gguf"))


def test_embedded_model_is_not_converted_again(smollm2_dir, monkeypatch):
    """Once converted, loading the embedded model reads the cached folder: the GGUF converter
    does not run again (it would raise here) and the folder is not rewritten. Checked by what
    runs, not by a wall-clock limit, which a busy machine can miss."""
    from pathlib import Path

    from scale.models import embedded

    def converter_ran(out):
        raise AssertionError(f"the embedded model was converted again into {out}")

    monkeypatch.setitem(embedded._BUILDERS, "smollm2-135m-instruct", converter_ran)
    weights = Path(smollm2_dir) / "model.safetensors"
    before = weights.stat().st_mtime_ns
    model = load_model("smollm2-135m-instruct")
    assert model.config.model_type == "llama" and not model.training
    assert weights.stat().st_mtime_ns == before


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
