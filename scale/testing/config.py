"""Compose the shipped Hydra configs from Python, as ``scale-eval`` does (tests, notebooks)."""

from __future__ import annotations

import copy
from typing import Any

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from scale.build import build
from scale.paths import CONFIG_DIR


def compose(*overrides: str, config_name: str = "eval") -> dict[str, Any]:
    """The resolved config for ``scale-eval OVERRIDES...`` as a plain dict."""
    if GlobalHydra.instance().is_initialized():  # inside a caller's own Hydra context
        cfg = hydra_compose(config_name=config_name, overrides=list(overrides), return_hydra_config=True)
    else:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
            cfg = hydra_compose(config_name=config_name, overrides=list(overrides), return_hydra_config=True)
    return resolve_job(cfg)


def resolve_job(cfg: DictConfig) -> dict[str, Any]:
    """The job's config as ``scale-eval`` sees it: ``${hydra:...}`` resolved, the hydra node dropped."""
    HydraConfig.instance().set_config(cfg)
    job = copy.deepcopy(cfg)
    with open_dict(job):
        del job["hydra"]
    return OmegaConf.to_container(job, resolve=True)  # type: ignore[return-value]


def method_node(option: str, *overrides: str, **values: Any) -> dict[str, Any]:
    """The ``method`` node of ``method=OPTION OVERRIDES...``, then ``values`` set on it."""
    node = compose(f"method={option}", *overrides)["method"]
    node.update(values)
    return node


def build_method(option: str, *overrides: str, **values: Any) -> Any:
    """The method ``scale-eval method=OPTION OVERRIDES...`` would run (``values`` set last)."""
    return build(method_node(option, *overrides, **values), "method")
