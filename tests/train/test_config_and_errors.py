"""configs/train_difficulty.yaml composes into typed settings; bad values and inputs fail in one line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from scale.errors import ConfigError
from scale.paths import REPO_ROOT
from scale.testing.config import compose
from scale.train.config import TrainConfig
from scale.train.model import LoraSettings


def test_shipped_config_composes_into_typed_settings():
    cfg = TrainConfig.from_dict(compose("model=tiny-qwen3", config_name="train_difficulty"))
    assert cfg.model == "tiny-qwen3" and cfg.report_to == "wandb_offline" and not cfg.resume
    assert isinstance(cfg.lora, LoraSettings) and cfg.lora.target_modules == ("q_proj", "k_proj", "v_proj", "o_proj")
    assert cfg.lora.modules_to_save == ("score",) and cfg.train.class_weights == "balanced"
    over = TrainConfig.from_dict(compose("model=m", "train.bf16=true", "train.gradient_checkpointing=true", "report_to=wandb",
                                         "resume=true", config_name="train_difficulty"))
    assert over.train.bf16 and over.train.gradient_checkpointing and over.report_to == "wandb" and over.resume


@pytest.mark.parametrize(("override", "message"), [
    ("lora.r=x", "lora.r: expected an integer, got 'x'"),
    ("train.class_weights=inverse", "train.class_weights must be one of ('balanced', 'none'), got 'inverse'"),
    ("report_to=mlflow", "report_to must be one of ('wandb_offline', 'wandb', 'tensorboard', 'none'), got 'mlflow'"),
    ("threshold.rule=best", "threshold.rule must be one of ('youden', 'f1', 'fixed'), got 'best'"),
    ("train.warmup_ratio=1.5", "train.warmup_ratio must be in [0, 1), got 1.5"),
])
def test_bad_settings_are_named(override, message):
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_dict(compose("model=m", override, config_name="train_difficulty"))
    assert str(err.value) == message


def test_the_base_model_is_required_with_one_line(tmp_path):
    """Issue 19 item 13: no default base (a random test model would train a useless router)."""
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_dict(compose(config_name="train_difficulty"))
    assert str(err.value) == ("train_difficulty: model is required (the base model to fine-tune, "
                              "e.g. model=Qwen/Qwen3-0.6B), got None")
    proc = subprocess.run([sys.executable, "scripts/train_difficulty.py", f"traces={tmp_path}",
                           f"output_dir={tmp_path / 'out'}", "report_to=none"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"error: {err.value}"


@pytest.mark.tiny
def test_the_script_prints_one_line_for_a_missing_traces_folder(tmp_path):
    proc = subprocess.run([sys.executable, "scripts/train_difficulty.py", "model=tiny-qwen3", f"traces={tmp_path / 'none'}",
                           f"output_dir={tmp_path / 'out'}", "report_to=none"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: traces {tmp_path / 'none'}: no such folder (make one with scripts/build_traces.py)")
    assert not (tmp_path / "out").exists()


@pytest.mark.tiny
def test_gradient_checkpointing_switch_trains(traces_dir, tmp_path):
    from scale.train.run import train

    done = train(TrainConfig.from_dict({"model": "tiny-qwen3", "traces": str(traces_dir), "output_dir": str(tmp_path),
                                        "report_to": "none", "max_length": 64,
                                        "train": {"max_steps": 2, "gradient_checkpointing": True}}))
    assert done.card.training["gradient_checkpointing"] and done.card.training["global_steps"] == 2


def test_without_peft_the_classifier_names_the_extra(monkeypatch):
    from scale.train.model import require_peft

    monkeypatch.setitem(sys.modules, "peft", None)  # a core install: peft is in the [train] extra
    with pytest.raises(ConfigError, match=r"needs peft: pip install 'scale-tts\[train\]'"):
        require_peft()


def test_training_arguments_carry_the_configured_seed(tmp_path):
    from scale.train.run import _training_args

    cfg = TrainConfig.from_dict({"model": "tiny-qwen3", "traces": str(tmp_path), "output_dir": str(tmp_path),
                                 "report_to": "none", "seed": 1234})
    args = _training_args(cfg, tmp_path, [])
    assert args.seed == 1234 and args.data_seed == 1234  # not Trainer's default 42
    assert args.remove_unused_columns is False  # the rows' own columns reach the collator


@pytest.mark.tiny
def test_a_missing_or_uncached_base_model_is_one_line(traces_dir, tiny_model_dir, tmp_path):
    import shutil

    from scale.errors import ModelNotFoundError
    from scale.train.model import base_classifier
    from scale.train.run import train

    with pytest.raises(ModelNotFoundError) as err:  # HF_HUB_OFFLINE=1 (tests/conftest.py): not in the cache
        train(TrainConfig.from_dict({"model": "Qwen/NoSuchModel", "traces": str(traces_dir),
                                     "output_dir": str(tmp_path / "out"), "report_to": "none"}))
    assert str(err.value).startswith("model 'Qwen/NoSuchModel' could not be loaded (") and "\n" not in str(err.value)
    weightless = shutil.copytree(tiny_model_dir, tmp_path / "weightless", ignore=shutil.ignore_patterns("*.safetensors"))
    with pytest.raises(ModelNotFoundError, match=f"^model '{weightless}' could not be loaded"):
        base_classifier(str(weightless), 0)


def test_both_trainers_share_settings_checks_and_tracking(tmp_path, monkeypatch):
    """scale.train.common: one copy of the pieces the classifier and SFT trainers both use."""
    from scale.sft.config import SFTSettings
    from scale.train.common import LoraBase, TrainBase, report_to

    sft = SFTSettings.from_dict(compose(config_name="sft"))
    clf = TrainConfig.from_dict(compose("model=m", config_name="train_difficulty"))
    for cfg in (sft, clf):
        assert isinstance(cfg.lora, LoraBase) and isinstance(cfg.train, TrainBase)
    assert (sft.train.batch_size, sft.train.grad_accum, clf.train.batch_size) == (1, 8, 8)  # own defaults
    with pytest.raises(ConfigError, match=r"^train.grad_accum must be >= 1, got 0$"):
        SFTSettings.from_dict({"base": "b", "traces": "r", "output_dir": "x", "train": {"grad_accum": 0}})
    with pytest.raises(ConfigError, match=r"^lora.alpha must be >= 1, got 0$"):
        TrainConfig.from_dict({"model": "m", "traces": "t", "output_dir": "o", "lora": {"alpha": 0}})
    for key in ("WANDB_MODE", "WANDB_PROJECT", "WANDB_DIR", "WANDB_LOG_MODEL"):
        monkeypatch.delenv(key, raising=False)
    assert report_to("wandb_offline", "scale-sft", tmp_path) == ["wandb"]
    assert (os.environ["WANDB_MODE"], os.environ["WANDB_PROJECT"], os.environ["WANDB_LOG_MODEL"]) == (
        "offline", "scale-sft", "false")  # no model upload from either trainer
