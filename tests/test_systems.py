"""Building System 1 / System 2 from config: shared engines, lazy loading, early errors."""

from __future__ import annotations

import asyncio
import copy

import pytest
from omegaconf import OmegaConf

from scale.build import build
from scale.engine.types import BudgetForcing, SamplingParams
from scale.errors import ConfigError, ModelNotFoundError
from scale.paths import CONFIG_DIR
from scale.systems import SystemConfig, build_systems, system_config_from_dict

HF = {"_target_": "scale.engine.hf_engine.HFEngine", "max_batch_size": 4}


def _cfg(name: str = "tiny_qwen3") -> dict:
    return OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "systems" / f"{name}.yaml"))


@pytest.mark.tiny
def test_hybrid_model_is_one_engine(tiny_model_dir):
    systems = build_systems(_cfg(), HF)
    assert systems.s1.engine is systems.s2.engine
    assert systems.s1.config.template_kwargs == {"enable_thinking": False}
    assert systems.s2.config.template_kwargs == {"enable_thinking": True}


@pytest.mark.tiny
def test_two_names_same_settings_share_one_engine(tiny_model_dir):
    cfg = _cfg()
    cfg["engines"] = {"a": {"model": "tiny-qwen3"}, "b": {"model": "tiny-qwen3"}}
    cfg["s1"]["engine"], cfg["s2"]["engine"] = "a", "b"
    systems = build_systems(cfg, HF)
    assert systems.s1.engine is systems.s2.engine


@pytest.mark.tiny
def test_only_used_systems_are_loaded(tiny_model_dir):
    cfg = _cfg()
    cfg["engines"] = {"a": {"model": "tiny-qwen3"}, "b": {"model": "no-such-model-anywhere"}}
    cfg["s1"]["engine"], cfg["s2"]["engine"] = "a", "b"
    systems = build_systems(cfg, HF, only={"s1"})  # s2's missing model is never touched
    with pytest.raises(ConfigError, match="s2 was not loaded"):
        asyncio.run(systems.s2.ask([{"role": "user", "content": "x"}], stage="solve", ledger=None))


def _err(cfg, exc=ConfigError, defaults=HF) -> str:
    with pytest.raises(exc) as info:
        build_systems(cfg, defaults)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_unknown_engine_reference_named():
    cfg = _cfg()
    cfg["s2"]["engine"] = "nope"
    assert "'nope'" in _err(cfg)


def test_negative_budget_named():
    cfg = _cfg()
    cfg["s2"]["budget"] = {"thinking_tokens": -4, "answer_tokens": 16}
    assert "-4" in _err(cfg)
    cfg = _cfg()
    cfg["s1"]["sampling"]["max_new_tokens"] = -1
    assert "max_new_tokens" in _err(cfg) and "-1" in _err(cfg)


def test_unknown_keys_named():
    cfg = _cfg()
    cfg["s1"]["temprature"] = 0.3
    assert "temprature" in _err(cfg)
    cfg = _cfg()
    cfg["s1"]["sampling"]["temprature"] = 0.3
    assert "temprature" in _err(cfg)
    assert "max_batch" in _err(_cfg(), defaults={**HF, "max_batch": 4})


def test_wrong_types_named_with_key_value_and_expectation():
    cfg = _cfg()
    cfg["s2"]["sampling"]["temperature"] = "hot"
    assert _err(cfg) == "systems.s2.sampling.temperature: expected a number, got 'hot'"
    cfg = _cfg()
    cfg["s1"]["context_length"] = "40k"
    assert _err(cfg) == "systems.s1.context_length: expected an integer or null, got '40k'"
    assert _err(
        _cfg(), defaults={**HF, "max_batch_size": "four"}) == "systems.engines.main.max_batch_size: expected an integer, got 'four'"


def test_unknown_engine_target_named():
    assert "'scale.engine.vllm_magic'" in _err(_cfg(), defaults={"_target_": "scale.engine.vllm_magic.Engine"})
    assert "missing _target_" in _err(_cfg(), defaults={"max_batch_size": 4})


def test_missing_model_named():
    cfg = copy.deepcopy(_cfg())
    cfg["engines"]["main"]["model"] = "./no/such/model"
    assert "'./no/such/model'" in _err(cfg, exc=ModelNotFoundError)


def test_missing_section_named():
    cfg = _cfg()
    del cfg["s1"]
    assert "'s1'" in _err(cfg)


def test_unknown_system_in_only():
    with pytest.raises(ConfigError, match="s3"):
        build_systems(_cfg(), HF, only={"s3"})


def test_openai_engine_rejects_bad_url():
    with pytest.raises(ConfigError, match="ftp://x"):
        build({"_target_": "scale.engine.openai_engine.OpenAIEngine", "base_url": "ftp://x", "model": "m"},
              "systems.engines.e")


def test_engines_and_stop_strings_of_the_wrong_shape_are_named():
    cfg = _cfg()
    cfg["engines"] = ["main"]
    assert _err(cfg).startswith("systems.engines: expected a mapping")
    cfg = _cfg()
    cfg["engines"]["main"] = "tiny-qwen3"
    assert _err(cfg) == "systems.engines.main: expected a mapping (model: ...), got 'tiny-qwen3'"
    cfg = _cfg()
    cfg["s1"]["stop"] = [1]
    assert _err(cfg) == "systems.s1.stop: expected a list of items each a string, got [1]"


def test_a_system_node_with_nulls_takes_the_defaults_and_its_own_name():
    sc = system_config_from_dict("s2", "s2", {"engine": "main", "stop": None, "sampling": None, "budget": None,
                                             "template_kwargs": None, "system_prompt": None, "name": None})
    assert sc == SystemConfig(name="s2", mode="s2", engine="main")
    kwargs = {"enable_thinking": True}
    sc = system_config_from_dict("s1", "s1", {"engine": "e", "name": "qwen", "stop": ["</s>"], "budget": {},
                                             "sampling": {"temperature": 0, "max_new_tokens": 8},
                                             "template_kwargs": kwargs, "context_length": 64})
    assert (sc.name, sc.mode, sc.stop, sc.budget, sc.context_length) == ("qwen", "s1", ("</s>",), None, 64)
    assert sc.sampling == SamplingParams(temperature=0.0, max_new_tokens=8)
    assert sc.template_kwargs == kwargs and sc.template_kwargs is not kwargs
    sc = system_config_from_dict("s2", "s2", {"engine": "e", "budget": {"thinking_tokens": 8}})
    assert sc.budget == BudgetForcing(thinking_tokens=8)


def test_a_system_node_is_refused_by_key_value_and_type():
    def err(node) -> str:
        with pytest.raises(ConfigError) as info:
            system_config_from_dict("s1", "s1", node)
        return str(info.value)

    allowed = ("['budget', 'context_length', 'context_margin', 'engine', 'name', 'sampling', 'stop', "
               "'system_message', 'system_prompt', 'template_kwargs']")
    # The mode is the node's key (s1 or s2), never a setting.
    assert err({"engine": "e", "mode": "s2"}) == f"systems.s1: unknown key(s) ['mode']; allowed {allowed}"
    assert err({"engine": "e", "tmp": 1, "mode": "s1"}) == f"systems.s1: unknown key(s) ['mode', 'tmp']; allowed {allowed}"
    assert "engine" in err({}) and err({}).startswith("systems.s1: missing")
    assert err({"engine": None}) == "systems.s1.engine: expected a string, got None"
    assert err({"engine": "e", "stop": "x"}) == "systems.s1.stop: expected a list of items each a string, got 'x'"
    assert err({"engine": "e", "context_margin": None}) == "systems.s1.context_margin: expected an integer, got None"
    assert err({"engine": "e", "system_message": "no"}) == "systems.s1.system_message: expected true/false, got 'no'"
    assert err({"engine": "e", "template_kwargs": [1]}) == "systems.s1.template_kwargs: expected a mapping, got [1]"
    assert err({"engine": "e", "sampling": {"temprature": 1}}).startswith(
        "systems.s1.sampling: unknown key(s) ['temprature']")
    assert "systems.s1.sampling" in err({"engine": "e", "sampling": [1]}) and "[1]" in err({"engine": "e", "sampling": [1]})
    assert "systems.s1.budget" in err({"engine": "e", "budget": 3})
    assert err("main") == "systems.s1: expected a mapping, got 'main'"
