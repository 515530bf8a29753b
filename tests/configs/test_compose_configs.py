"""Every Hydra config composes and builds without model weights.

    .venv/bin/python -m pytest tests/configs -q

Each experiment (``configs/experiment/**``, every point of a multirun sweep) and each
group option (``data=``, ``systems=``, ...) is composed through Hydra's compose API,
resolved like ``scale.cli.eval`` resolves it, and built the way ``scale.runner.run``
builds it: method (with the difficulty and router nodes for SCALE), router, scorer,
S1/S2 system configs, and each engine node checked against its backend's constructor
signature (what ``build_engine`` checks) without constructing it, which would load weights.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf, open_dict

from scale.build import build, check_kwargs, import_target
from scale.data import BENCHMARKS
from scale.errors import ConfigError
from scale.methods.base import Method
from scale.paths import CONFIG_DIR
from scale.runner.run import IDENTITY_KEYS
from scale.systems import engine_node, system_config_from_dict

CONFIGS = CONFIG_DIR
GROUPS = ("data", "systems", "engine", "method", "difficulty", "router")
COMMAND_WORDS = ("scale-eval", "make", "python", "accelerate")

TABLE1_SETUPS = ("qwen3_32b", "qwq_32b", "r1_llama_70b", "r1_qwen_32b")
TABLE1_METHODS = {"cot": "cot", "inftythink": "inftythink", "majority": "majority", "scale": "scale"}
TABLE1_DATASETS = ("aime24", "aime25", "amc23")

# Group options that need a partner to build: openai needs a systems file with real model
# names (the default smollm2 is an embedded model); router=random needs a fraction or a run;
# the classifier scorer gets a stand-in adapter folder (with_adapter).
GROUP_EXTRAS = {
    ("engine", "openai"): ["systems=qwen3_32b"],
    ("router", "random"): ["router.fraction=0.5"],
}


def _rel(path: Path, base: Path) -> str:
    return path.relative_to(base).with_suffix("").as_posix()


ALL_CONFIG_FILES = sorted(CONFIGS.rglob("*.yaml"))
EXPERIMENTS = sorted(_rel(p, CONFIGS / "experiment") for p in (CONFIGS / "experiment").rglob("*.yaml"))
GROUP_OPTIONS = sorted((g, p.stem) for g in GROUPS for p in (CONFIGS / g).glob("*.yaml"))


@pytest.fixture(scope="module", autouse=True)
def _hydra():
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        yield
    _compose.cache_clear()


def compose_eval(overrides: list[str]) -> DictConfig:
    """The composed config, hydra node included (cached: composing is the slow part)."""
    return _compose(tuple(overrides))


@functools.cache
def _compose(overrides: tuple[str, ...]) -> DictConfig:
    return compose(config_name="eval", overrides=list(overrides), return_hydra_config=True)


def resolve(cfg: DictConfig) -> dict[str, Any]:
    """The job config as scale.cli.eval sees it: hydra node set aside, then resolved."""
    HydraConfig.instance().set_config(cfg)  # for ${hydra:...} interpolations, as in a real run
    job = copy.deepcopy(cfg)
    with open_dict(job):
        del job["hydra"]
    out = OmegaConf.to_container(job, resolve=True)
    assert isinstance(out, dict)
    return out


def sweep_points(cfg: DictConfig) -> list[list[str]]:
    """The override lists a BasicSweeper multirun would launch from ``hydra.sweeper.params``."""
    params = cfg.hydra.sweeper.get("params") or {}
    if not params:
        return []
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    (batch,) = BasicSweeper.split_arguments(parsed, max_batch_size=None)
    return batch


def with_match_run(c: dict[str, Any], tmp_path: Path, s2_fraction: float = 0.5) -> dict[str, Any]:
    """router=random reads match_run/metrics.json at build time: point it at a stand-in."""
    router = c.get("router", {})
    if router.get("name") != "random" or not router.get("match_run"):
        return c
    stand_in = tmp_path / "match_run"
    stand_in.mkdir(exist_ok=True)
    (stand_in / "metrics.json").write_text(json.dumps({"s2_fraction": s2_fraction}))
    c = copy.deepcopy(c)
    c["router"]["match_run"] = str(stand_in)
    if isinstance(c["method"].get("router"), dict):  # SCALE's own copy of the router node
        c["method"]["router"]["match_run"] = str(stand_in)
    return c


def with_adapter(c: dict[str, Any], tmp_path: Path, tau: float = 0.42) -> dict[str, Any]:
    """difficulty=classifier reads its adapter's difficulty.json and checks its safetensors
    header at build time (the weights load on the first score): point it at a stand-in folder
    holding that card and a whole, one-tensor weights file."""
    if c.get("difficulty", {}).get("name") != "classifier":
        return c
    import numpy as np
    from safetensors.numpy import save_file

    from scale.train.artifact import ADAPTER_WEIGHTS, DifficultyCard, write_card

    stand_in = tmp_path / "adapter"
    stand_in.mkdir(exist_ok=True)
    save_file({"stand_in": np.zeros(1, dtype=np.float32)}, str(stand_in / ADAPTER_WEIGHTS))
    write_card(stand_in, DifficultyCard(base_model="tiny-qwen3", label={"kind": "stand-in"}, template={},
                                        threshold={"value": tau, "rule": "fixed"}))
    c = copy.deepcopy(c)
    for node in (c["difficulty"], c["method"].get("difficulty")):
        if isinstance(node, dict):  # the top-level node and SCALE's own copy of it
            node["adapter"] = str(stand_in)
    return c


def check_engine_node(name: str, merged: dict[str, Any]) -> None:
    """What ``build`` checks for an engine (keys, types, required ones), minus the
    constructor call, which would load weights."""
    node = dict(merged)
    where = f"systems.engines.{name}"
    cls = import_target(node.pop("_target_"), where)
    check_kwargs(cls, node, where, supplied=("name",))
    missing = [k for k in ("model",) if node.get(k) in (None, "")]
    assert not missing, f"engine {name!r}: missing {missing}"


def build_all(c: dict[str, Any]) -> None:
    """Build everything run_eval builds before it loads a model."""
    assert c["data"]["name"] in BENCHMARKS or c["data"].get("path"), c["data"]
    assert int(c["n_samples"]) >= 1
    assert c["run_dir"] and "${" not in str(c["run_dir"])
    method = build(c["method"], "method")
    assert isinstance(method, Method) and method.name == c["method"]["name"]
    build(c["router"], "router")
    build(c["difficulty"], "difficulty")
    systems = c["systems"]
    engines = dict(systems["engines"])
    for mode in ("s1", "s2"):
        sc = system_config_from_dict(systems[mode].get("name", mode), mode, systems[mode])
        assert sc.engine in engines, f"systems.{mode}.engine {sc.engine!r} not in {sorted(engines)}"
        check_engine_node(sc.engine, engine_node(c.get("engine") or {}, engines[sc.engine]))


# --- every experiment, every sweep point ------------------------------------------------


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_composes_and_builds(experiment, tmp_path):
    cfg = compose_eval([f"experiment={experiment}"])
    assert cfg.hydra.runtime.choices["experiment"] == experiment
    build_all(with_adapter(with_match_run(resolve(cfg), tmp_path), tmp_path))
    points = sweep_points(cfg)
    if not points:
        return
    run_dirs = set()
    for point in points:
        job = compose_eval([f"experiment={experiment}", *point])
        c = resolve(job)
        build_all(with_adapter(with_match_run(c, tmp_path), tmp_path))
        run_dirs.add(c["run_dir"])
    assert len(run_dirs) == len(points), f"{experiment}: sweep jobs share run dirs"


def test_single_run_experiments_have_distinct_run_dirs():
    seen: dict[str, str] = {}
    for experiment in EXPERIMENTS:
        cfg = compose_eval([f"experiment={experiment}"])
        if sweep_points(cfg):
            continue
        run_dir = resolve(cfg)["run_dir"]
        assert run_dir not in seen, f"{experiment} and {seen.get(run_dir)} share {run_dir}"
        seen[run_dir] = experiment


# --- every group option --------------------------------------------------------------------


@pytest.mark.parametrize(("group", "option"), GROUP_OPTIONS, ids=[f"{g}={o}" for g, o in GROUP_OPTIONS])
def test_group_option_composes_and_builds(group, option, tmp_path):
    cfg = compose_eval([f"{group}={option}", *GROUP_EXTRAS.get((group, option), [])])
    assert cfg.hydra.runtime.choices[group] == option
    build_all(with_adapter(with_match_run(resolve(cfg), tmp_path), tmp_path))


@pytest.mark.parametrize("option", sorted(p.stem for p in (CONFIGS / "data").glob("*.yaml")))
def test_data_config_names_a_registered_benchmark(option):
    data = OmegaConf.load(CONFIGS / "data" / f"{option}.yaml")
    assert data.name in BENCHMARKS, f"configs/data/{option}.yaml: {data.name!r} not in BENCHMARKS"


@pytest.mark.parametrize("option", sorted(p.stem for p in (CONFIGS / "method").glob("*.yaml")))
def test_method_config_targets_a_method(option):
    node = OmegaConf.load(CONFIGS / "method" / f"{option}.yaml")
    cls = import_target(node["_target_"], "method")
    assert issubclass(cls, Method)


def test_classifier_slot_composes_and_asks_for_its_adapter(tmp_path):
    """A new scorer is one module + one YAML: the classifier, composed with SCALE; given an
    adapter, the threshold router routes at the adapter's own tau unless router.tau is set."""
    c = resolve(compose_eval(["difficulty=classifier"]))
    assert c["method"]["difficulty"] == c["difficulty"]
    assert c["difficulty"]["_target_"] == "scale.difficulty.classifier.ClassifierScorer"
    with pytest.raises(ConfigError, match=r"needs difficulty.adapter"):
        build(c["method"], "method")
    routed = resolve(compose_eval(["experiment=classifier_route"]))
    assert routed["method"]["difficulty"]["name"] == "classifier" and routed["router"]["tau"] is None
    method = build(with_adapter(routed, tmp_path, tau=0.42)["method"], "method")
    assert method.scorer.threshold == 0.42 and method.router.tau == 0.42
    given = resolve(compose_eval(["experiment=classifier_route", "router.tau=0.7"]))
    assert build(with_adapter(given, tmp_path)["method"], "method").router.tau == 0.7


@pytest.mark.parametrize(("override", "message"), [
    ("router.tau=abc", "router.tau: expected a number or null, got 'abc'"),
    ("method.n_outlines=many", "method.n_outlines: expected an integer, got 'many'"),
    ("difficulty.max_new_tokens=1.5", "difficulty.max_new_tokens: expected an integer, got 1.5"),
    ("method.select=maybe", "method.select: expected true/false, got 'maybe'"),
])
def test_wrong_value_types_are_named(override, message):
    c = resolve(compose_eval([override]))
    with pytest.raises(ConfigError) as err:
        build(c["method"], "method")
    assert str(err.value) == message


# --- documented commands -------------------------------------------------------------------


def first_comment(path: Path) -> str:
    """First line after the ``# @package`` header (Hydra reads its header until the first
    other line, so the header must come first and the command line right after it)."""
    for line in path.read_text().splitlines():
        if re.match(r"^\s*#\s*@", line):
            continue
        return line
    return ""


@pytest.mark.parametrize("path", ALL_CONFIG_FILES, ids=[_rel(p, CONFIGS) for p in ALL_CONFIG_FILES])
def test_config_starts_with_its_command(path):
    line = first_comment(path)
    assert line.lstrip().startswith("#"), f"{path}: first line is not a comment: {line!r}"
    assert any(w in line for w in COMMAND_WORDS), f"{path}: first line names no command: {line!r}"


# "# Run: scale-eval ARGS   (note)" / "# Used by: scale-eval ARGS" / "# Sweep: scale-eval -m ARGS"
_DOC_COMMAND = re.compile(r"^#\s*[A-Za-z][\w ]*:\s*scale-eval\s+(?P<args>[^(]*?)\s*(?:\(.*)?$")
DOC_COMMANDS = sorted(
    {(_rel(p, CONFIGS), m["args"]) for p in ALL_CONFIG_FILES for line in p.read_text().splitlines()
     if (m := _DOC_COMMAND.match(line.strip())) and m["args"]}
)


@pytest.mark.parametrize(("source", "args"), DOC_COMMANDS, ids=[f"{s}: {a}" for s, a in DOC_COMMANDS])
def test_documented_command_composes(source, args):
    overrides = [a for a in shlex.split(args) if a not in ("-m", "--multirun")]
    cfg = compose_eval(overrides)
    resolve(cfg)


# --- the paper's grids ---------------------------------------------------------------------


def test_table1_grid_is_complete():
    expected = {f"table1/{s}_{m}_{d}" for s in TABLE1_SETUPS for m in TABLE1_METHODS for d in TABLE1_DATASETS}
    have = {e for e in EXPERIMENTS if e.startswith("table1/")}
    assert len(expected) == 48
    assert have == expected, f"missing {sorted(expected - have)}, unexpected {sorted(have - expected)}"


@pytest.mark.parametrize("setup", TABLE1_SETUPS)
def test_table1_cells_run_what_their_names_say(setup):
    for method in TABLE1_METHODS:
        for data in TABLE1_DATASETS:
            stem = f"{setup}_{method}_{data}"
            cfg = compose_eval([f"experiment=table1/{stem}"])
            c = resolve(cfg)
            assert cfg.hydra.runtime.choices["systems"] == setup
            assert c["data"]["name"] == data
            assert c["method"]["name"] == TABLE1_METHODS[method]
            assert c["run_dir"] == f"runs/table1/{stem}"
            if method == "scale":
                assert (c["router"]["name"], c["router"]["tau"]) == ("threshold", 0.5)
            else:  # on a thinking model the paper's baselines run on System 2
                assert c["method"]["system"] == "s2"
            assert c["prompts"]["name"] == "authors_shape"  # the authors' message shapes (issue 19 item 2)
            if method == "majority":  # one vote over 8 samples per problem, as in the paper
                assert (c["method"]["k"], c["n_samples"]) == (8, 1)
                # ... over its CoT cell's 8 samples (issue 19 item 6), wherever the cells write
                cot = resolve(compose_eval([f"experiment=table1/{setup}_cot_{data}"]))
                assert c["method"]["from_run"] == cot["run_dir"] and cot["n_samples"] == 8
                moved = [f"experiment=table1/{{}}_{data}", "table1.root=/scratch/t1"]
                vote = resolve(compose_eval([moved[0].format(f"{setup}_majority"), moved[1]]))
                assert vote["method"]["from_run"] == resolve(compose_eval([moved[0].format(f"{setup}_cot"),
                                                                           moved[1]]))["run_dir"]
                assert vote["method"]["from_run"] == f"/scratch/t1/{setup}_cot_{data}"
            else:
                assert c["n_samples"] == 8


def test_table2_sweep_is_tau_02_to_09_on_aime24_and_aime25():
    cfg = compose_eval(["experiment=table2_tau_sweep"])
    points = sweep_points(cfg)
    got = set()
    for point in points:
        c = resolve(compose_eval(["experiment=table2_tau_sweep", *point]))
        assert c["router"]["name"] == "threshold" and c["method"]["name"] == "scale"
        assert c["n_samples"] == 8
        got.add((c["data"]["name"], c["router"]["tau"]))
    taus = [round(0.1 * i, 1) for i in range(2, 10)]
    assert got == {(d, t) for d in ("aime24", "aime25") for t in taus}


def test_table2_tau_05_computes_the_table1_cell():
    """Same config as Table 1's Qwen3-32B SCALE cell (the paper's two numbers disagree)."""
    sweep = resolve(compose_eval(["experiment=table2_tau_sweep", "data=aime24", "router.tau=0.5"]))
    cell = resolve(compose_eval(["experiment=table1/qwen3_32b_scale_aime24"]))
    assert {k: sweep[k] for k in IDENTITY_KEYS} == {k: cell[k] for k in IDENTITY_KEYS}


@pytest.mark.parametrize(("setup", "data"), [("qwen3_32b", "aime24"), ("qwq_32b", "amc23")])
def test_random_control_matches_its_scale_run(setup, data):
    """Same setting as the SCALE cell, only the router differs; match_run is that cell's dir."""
    over = [] if (setup, data) == ("qwen3_32b", "aime24") else [f"systems={setup}", f"data={data}"]
    ctrl = resolve(compose_eval(["experiment=random_control", *over]))
    cell = resolve(compose_eval([f"experiment=table1/{setup}_scale_{data}"]))
    assert ctrl["router"]["name"] == "random"
    assert ctrl["router"]["match_run"] == cell["run_dir"]
    assert ctrl["run_dir"] != cell["run_dir"]
    for key in IDENTITY_KEYS:
        if key == "method":  # SCALE's method node holds its router: only that may differ
            assert {**ctrl[key], "router": None} == {**cell[key], "router": None}
        elif key != "router":
            assert ctrl[key] == cell[key], key


def test_slurm_launcher_composes():
    from hydra_plugins.hydra_submitit_launcher import submitit_launcher

    cfg = compose_eval(["experiment=table2_tau_sweep", "hydra/launcher=slurm"])
    launcher = cfg.hydra.launcher
    assert launcher._target_ == f"{submitit_launcher.__name__}.SlurmLauncher"
    assert hasattr(submitit_launcher, "SlurmLauncher")
    assert (launcher.nodes, launcher.tasks_per_node) == (1, 1)
    assert str(launcher.submitit_folder) == "runs/table2/sweeps/.submitit/%j"
