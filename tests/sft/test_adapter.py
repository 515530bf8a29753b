"""Base + LoRA adapter in the HF engine: merged at load, safetensors only, the base checked."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from scale.errors import ConfigError, ModelNotFoundError
from scale.models import load_model, resolve_model, same_base
from scale.systems import build_systems
from scale.testing.config import compose
from tests.helpers.engine_requests import answer_once, user_request

pytestmark = pytest.mark.tiny

IDS = torch.tensor([[1, 5, 9, 14, 2, 7]])


def _logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(IDS).logits


@pytest.fixture(scope="module")
def adapter(tmp_path_factory) -> str:
    """A LoRA on tiny-qwen3 with random (non-zero) weights, saved as peft saves it."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    model = get_peft_model(load_model("tiny-qwen3", dtype="float32"),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    out = tmp_path_factory.mktemp("adapter") / "lora"
    model.save_pretrained(out)  # safetensors by default
    raw = json.loads((out / "adapter_config.json").read_text())
    raw["base_model_name_or_path"] = "tiny-qwen3"
    (out / "adapter_config.json").write_text(json.dumps(raw))
    return str(out)


def test_adapter_is_merged_into_the_base(adapter):
    from peft import PeftModel

    base = load_model("tiny-qwen3", dtype="float32")
    tuned = load_model("tiny-qwen3", dtype="float32", adapter=adapter)
    by_hand = PeftModel.from_pretrained(load_model("tiny-qwen3", dtype="float32"), adapter).eval()
    assert type(tuned) is type(base)  # merged: the engines see a plain model
    assert not torch.allclose(_logits(tuned), _logits(base))
    torch.testing.assert_close(_logits(tuned), _logits(by_hand), rtol=1e-4, atol=1e-4)


def test_the_hf_engine_answers_with_the_adapter_from_config(adapter):
    cfg = compose("systems=tiny_qwen3", f"engine.adapter={adapter}")
    assert compose("systems=tiny_qwen3")["engine"]["adapter"] is None  # configs/engine/hf.yaml default
    systems = build_systems(cfg["systems"], cfg["engine"], only={"s1"})
    engine = systems.engines["main"]
    completion = answer_once(engine, user_request("What is 2 + 3?", 8), close=systems.aclose)
    assert completion.response_tokens == 8 and completion.text
    assert not torch.allclose(_logits(engine.model), _logits(load_model("tiny-qwen3", dtype="float32")))


def test_an_adapter_of_another_base_is_refused_in_one_line(adapter, tmp_path):
    with pytest.raises(ConfigError, match=r"trained on 'tiny-qwen3', not on this engine's model 'smollm2-135m-instruct'"):
        load_model("smollm2-135m-instruct", adapter=adapter)
    # Claiming the right base does not help weights of another shape.
    liar = tmp_path / "liar"
    shutil.copytree(adapter, liar)
    raw = json.loads((liar / "adapter_config.json").read_text())
    raw["base_model_name_or_path"] = "smollm2-135m-instruct"
    (liar / "adapter_config.json").write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match="does not fit model 'smollm2-135m-instruct'") as err:
        load_model("smollm2-135m-instruct", adapter=str(liar))
    assert "\n" not in str(err.value)


def test_pickled_or_missing_adapters_are_refused(adapter, tmp_path):
    with pytest.raises(ModelNotFoundError, match="no adapter_config.json"):
        load_model("tiny-qwen3", adapter=str(tmp_path))
    pickled = tmp_path / "pickled"
    shutil.copytree(adapter, pickled)
    (pickled / "adapter_model.safetensors").rename(pickled / "adapter_model.bin")
    with pytest.raises(ModelNotFoundError, match="adapter_model.bin is refused: pickle"):
        load_model("tiny-qwen3", adapter=str(pickled))


def test_same_base_names():
    assert same_base("tiny-qwen3", resolve_model("tiny-qwen3"))  # embedded name vs its folder
    assert same_base("Qwen/Qwen2.5-32B-Instruct", "/models/Qwen2.5-32B-Instruct/")  # Hub id vs a download
    assert not same_base("Qwen/Qwen2.5-32B-Instruct", "Qwen/Qwen2.5-14B-Instruct")
