"""A user's install: the wheel (not editable) carries the configs; `scale-eval` runs from anywhere.

The wheel is installed without dependencies into a folder put first on PYTHONPATH, so the
test's own environment provides torch & co while every `scale` file comes from the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

from scale.paths import REPO_ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    wheels = tmp_path_factory.mktemp("wheel")
    # Build from a copy: setuptools leaves build/ and *.egg-info in the source folder.
    src = tmp_path_factory.mktemp("src") / "scale-tts"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, src / name)
    for name in ("scale", "configs", "hydra_plugins"):
        shutil.copytree(REPO_ROOT / name, src / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheels), str(src)], check=True, capture_output=True, timeout=600)
    (wheel,) = wheels.glob("scale_tts-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "scale/configs/eval.yaml" in names and "scale/configs/method/scale.yaml" in names
    assert any(n.startswith("hydra_plugins/scale_user_configs/") for n in names)
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                    str(wheel)], check=True, capture_output=True, timeout=600)
    return target


def _eval(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(site), HF_HUB_OFFLINE="1")
    code = "import sys; from scale.cli.eval import main; sys.argv[0] = 'scale-eval'; main()"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def test_installed_scale_eval_finds_its_configs_from_another_folder(installed, tmp_path):
    proc = _eval(installed, tmp_path, "--cfg", "job", "experiment=debug")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "_target_: scale.methods.scale_method.Scale" in proc.stdout
    where = subprocess.run([sys.executable, "-c", "import scale; print(scale.__file__)"], cwd=tmp_path,
                           env=dict(os.environ, PYTHONPATH=str(installed)), capture_output=True, text=True,
                           check=True).stdout
    assert where.startswith(str(installed)), where  # the wheel's copy, not the checkout


def test_users_config_dir_comes_first(installed, tmp_path):
    mine = tmp_path / "my_configs"
    (mine / "router").mkdir(parents=True)
    (mine / "experiment").mkdir()
    (mine / "router" / "threshold.yaml").write_text(
        "_target_: scale.routing.ThresholdRouter\nname: threshold\ntau: 0.77\n")
    (mine / "experiment" / "mine.yaml").write_text("# @package _global_\nname: mine\n")
    proc = _eval(installed, tmp_path, "--config-dir", str(mine), "--cfg", "job", "experiment=mine")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "tau: 0.77" in proc.stdout and "name: mine" in proc.stdout
    missing = _eval(installed, tmp_path, "--config-dir", str(tmp_path / "nope"), "--cfg", "job")
    assert missing.returncode == 2 and "no such folder" in missing.stderr


def test_core_install_is_lean_and_scripts_exist():
    meta = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(meta["dependencies"])
    for heavy in ("peft", "trl", "wandb", "matplotlib", "submitit"):
        assert heavy not in core, f"{heavy} belongs in an extra"
    for module in meta["scripts"].values():
        mod = module.split(":")[0]
        assert (REPO_ROOT / (mod.replace(".", "/") + ".py")).is_file(), module
