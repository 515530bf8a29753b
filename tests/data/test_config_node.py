"""The ``data`` config node: its keys in every configs/data file, the run label of a path,
``load_from_config``'s checks, and the layering rule (scale.data never imports scale.grading).
"""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import scale.data
from scale.data import data_label, load_benchmark, load_from_config
from scale.data.fields import FIELD_KEYS
from scale.data.load import CONFIG_KEYS
from scale.errors import DataError
from scale.paths import CONFIG_DIR

DATA_CONFIGS = sorted((CONFIG_DIR / "data").glob("*.yaml"))


@pytest.mark.parametrize("path", DATA_CONFIGS, ids=[p.stem for p in DATA_CONFIGS])
def test_every_data_config_has_every_key_with_a_default(path):
    node = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    assert tuple(node) == CONFIG_KEYS
    assert node["name"] == path.stem and node["path"] is None and node["limit"] is None
    assert node["fields"] == dict.fromkeys(FIELD_KEYS)


def _compose(overrides: list[str]) -> dict:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        cfg = compose(config_name="eval", overrides=overrides)
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def test_readme_command_data_path_with_the_default_name(shared_data, caplog):
    # scale-eval data.path=../shared/data/math500.jsonl: data.name keeps its default "demo",
    # the file is read with its own fields, labels the problems and names the run.
    cfg = _compose([f"data.path={shared_data / 'math500.jsonl'}", "data.limit=2"])
    assert cfg["data"]["name"] == "demo"
    assert cfg["name"] == "scale-math500" and cfg["run_dir"] == "runs/scale-math500"
    with caplog.at_level(logging.INFO, logger="scale.data.load"):
        problems = load_from_config(cfg["data"])
    assert [p.id for p in problems] == [
        "math500-test/precalculus/807.json",
        "math500-test/intermediate_algebra/1994.json",
    ]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("fields question='problem'" in m for m in messages) == 1
    assert any("data.name='demo' is not used for it" in m for m in messages)
    # The same file by path and by name gives the same ids: runs can be compared.
    assert [p.id for p in load_benchmark("math500", limit=2)] == [p.id for p in problems]


def test_fields_override_from_the_command_line(tmp_path):
    f = tmp_path / "mine.jsonl"
    f.write_text('{"q": "What is 2+2?", "gold": "4"}\n')
    cfg = _compose(
        [f"data.path={f}", "data.name=own", "data.fields.question=q", "data.fields.answer=gold"]
    )
    assert cfg["name"].endswith("-mine")  # the file names the run, not data.name
    (p,) = load_from_config(cfg["data"])
    assert (p.id, p.question, p.answer) == ("mine-1", "What is 2+2?", "4")


def test_data_label():
    assert data_label("../shared/data/math500.jsonl") == "math500"
    assert data_label("runs/set.parquet") == "set"


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (
            {"name": "demo", "split": "test"},
            "unknown key data.split; known: name, path, limit, fields",
        ),
        ({"name": "demo", "fields": "question"}, "data.fields must be a mapping"),
        ({"name": "demo", "limit": 0}, "data.limit must be an integer >= 1, got 0"),
        ({"name": "demo", "limit": "3"}, "data.limit must be an integer >= 1, got '3'"),
        ({}, "give a benchmark name (data.name) or a file (data.path)"),
        ({"name": "demo", "fields": {"answer": 3}}, "data.fields.answer must name a field, got 3"),
    ],
)
def test_load_from_config_refuses_bad_nodes(node, message):
    with pytest.raises(DataError, match=None) as info:
        load_from_config(node)
    assert message in str(info.value)


def test_registered_set_accepts_field_overrides():
    (p,) = load_from_config({"name": "demo", "limit": 1, "fields": {"id": None}})
    assert p.id == "demo-apples"


def test_data_layer_does_not_import_grading():
    package = Path(scale.data.__file__).parent
    offenders = []
    for module in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{module.name}: {n}" for n in names if n.startswith("scale.grading")]
    assert offenders == []
