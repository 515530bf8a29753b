"""The runner's defaults are written once (RunSettings); configs/eval.yaml states the same values."""

from __future__ import annotations

from dataclasses import MISSING, fields
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from scale.errors import ConfigError
from scale.runner.run import CONFIG_KEYS, RunSettings

EVAL_YAML = Path(__file__).resolve().parents[2] / "scale" / "configs" / "eval.yaml"


def test_eval_yaml_states_the_dataclass_defaults():
    yaml = OmegaConf.to_container(OmegaConf.load(EVAL_YAML), resolve=False)
    with_default = [f for f in fields(RunSettings) if f.default is not MISSING]
    assert {f.name for f in with_default} == set(CONFIG_KEYS)  # every setting is read from the config
    for f in with_default:
        node = yaml
        for part in CONFIG_KEYS[f.name].split("."):
            node = node[part]
        assert node == f.default, f"eval.yaml {CONFIG_KEYS[f.name]}: {node!r} != RunSettings.{f.name} {f.default!r}"


def test_a_missing_key_takes_the_field_default_and_a_bad_one_names_its_key():
    settings = RunSettings.from_config({"run_dir": "runs/x"})
    assert settings == RunSettings(run_dir=Path("runs/x"))
    settings = RunSettings.from_config({"run_dir": "r", "seed": 3, "runner": {"max_error_fraction": 1},
                                        "grading": {"timeout_s": 2}})
    assert (settings.seed, settings.max_error_fraction, settings.grading_timeout_s) == (3, 1.0, 2.0)
    with pytest.raises(ConfigError, match=r"^runner\.progress: expected .*got 'yes'$"):
        RunSettings.from_config({"run_dir": "r", "runner": {"progress": "yes"}})
    with pytest.raises(ConfigError, match="run_dir: missing"):
        RunSettings.from_config({})
