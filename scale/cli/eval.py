"""Evaluate a method on a benchmark: ``scale-eval experiment=debug`` (Hydra overrides welcome).

    scale-eval data=aime24 systems=qwen3_32b method=scale n_samples=8 run_dir=runs/scale-aime24
    scale-eval -m experiment=table2_tau_sweep          # a Hydra multirun (Slurm: hydra/launcher=slurm)
    python -m scale.cli.eval experiment=debug
    scale-eval --config-dir my_configs experiment=mine  # your own configs, searched first
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from scale.cli.config_dirs import take_config_dirs
from scale.errors import ScaleError
from scale.paths import CONFIG_DIR
from scale.runner.run import run_eval
from scale.runner.summary import print_summary

log = logging.getLogger("scale")


@hydra.main(version_base=None, config_path=str(CONFIG_DIR), config_name="eval")
def _main(cfg: DictConfig) -> None:
    resolved = OmegaConf.to_container(cfg, resolve=True)
    try:
        metrics = run_eval(resolved)  # type: ignore[arg-type]
    except ScaleError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    if metrics is not None:
        print_summary(resolved["run_dir"], metrics)  # type: ignore[index]


def main() -> None:
    try:
        take_config_dirs()
    except ScaleError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    _main()


if __name__ == "__main__":
    main()
