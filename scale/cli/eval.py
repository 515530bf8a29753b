"""Evaluate a method on a benchmark: ``scale-eval experiment=debug`` (Hydra overrides welcome).

    scale-eval data=aime24 systems=qwen3_32b method=scale n_samples=8 run_dir=runs/scale-aime24
    scale-eval -m experiment=table2_tau_sweep          # a Hydra multirun (Slurm: hydra/launcher=slurm)
    python -m scale.cli.eval experiment=debug
    scale-eval --config-dir my_configs experiment=mine  # your own configs, searched first
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from scale.cli.config_dirs import take_config_dirs
from scale.errors import ScaleError
from scale.paths import CONFIG_DIR
from scale.runner.run import run_eval
from scale.runner.summary import print_summary
from scale.secrets import check_argv, redact_text, secrets_in

log = logging.getLogger("scale")


@hydra.main(version_base=None, config_path=str(CONFIG_DIR), config_name="eval")
def _main(cfg: DictConfig) -> None:
    resolved = OmegaConf.to_container(cfg, resolve=True)
    scrub_hydra_files(secrets_in(resolved))  # a key set in a config file: out of .hydra/*.yaml
    try:
        metrics = run_eval(resolved)  # type: ignore[arg-type]
    except ScaleError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    if metrics is not None:
        print_summary(resolved["run_dir"], metrics)  # type: ignore[index]


def scrub_hydra_files(secrets: list[str]) -> None:
    """Hydra saved the composed config before the run started: redact credentials in it."""
    if not secrets:
        return
    from hydra.core.hydra_config import HydraConfig

    hc = HydraConfig.get()
    if not hc.output_subdir:
        return
    for f in (Path(hc.runtime.output_dir) / hc.output_subdir).glob("*.yaml"):
        text = f.read_text(encoding="utf-8")
        if any(s in text for s in secrets):
            f.write_text(redact_text(text, secrets), encoding="utf-8")


def main() -> None:
    try:
        check_argv(sys.argv[1:])  # before Hydra copies the command line into .hydra/
        take_config_dirs()
    except ScaleError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    _main()


if __name__ == "__main__":
    main()
