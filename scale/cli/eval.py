"""Evaluate a method on a benchmark: ``scale-eval experiment=debug`` (Hydra overrides welcome).

    scale-eval data=aime24 systems=qwen3_32b method=scale n_samples=8 run_dir=runs/scale-aime24
    scale-eval -m experiment=table2_tau_sweep          # a Hydra multirun (Slurm: hydra/launcher=slurm)
    python -m scale.cli.eval experiment=debug
    scale-eval --config-dir my_configs experiment=mine  # your own configs, searched first
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from scale.cli.config_dirs import take_config_dirs
from scale.cli.hydra_app import run_app
from scale.data import load_from_config
from scale.errors import ScaleError
from scale.outputs import check_output_dir
from scale.paths import CONFIG_DIR
from scale.rundir import RunDir
from scale.runner.run import run_eval
from scale.runner.summary import print_summary

log = logging.getLogger("scale")


@hydra.main(version_base=None, config_path=str(CONFIG_DIR), config_name="eval")
def _main(cfg: DictConfig) -> None:
    resolved = OmegaConf.to_container(cfg, resolve=True)
    run_dir = str(resolved.get("run_dir", ""))  # type: ignore[union-attr]
    try:
        check_output_dir(run_dir, "run_dir")  # a multirun's points (a single run: CheckRunDir did)
        metrics = run_eval(resolved)  # type: ignore[arg-type]
    except ScaleError as err:
        drop_hydra_run(run_dir)
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        # Every finished attempt is on disk (one fsynced line each): say so, not a traceback.
        print(f"interrupted: {recorded(resolved)}; rerun the same command to resume", file=sys.stderr)  # type: ignore[arg-type]
        sys.exit(130)
    if metrics is not None:
        print_summary(resolved["run_dir"], metrics)  # type: ignore[index]


def drop_hydra_run(run_dir: str) -> None:
    """A refused config leaves no folder behind: Hydra's ``.hydra_run`` goes, and the run dir
    too when Hydra made it for that alone (a run dir holding a run keeps both)."""
    path = Path(run_dir)
    if not run_dir or (path / "config.json").exists():
        return
    shutil.rmtree(path / ".hydra_run", ignore_errors=True)
    with contextlib.suppress(OSError):
        path.rmdir()  # only if empty


def recorded(cfg: dict[str, Any]) -> str:
    """``N of M attempts recorded in RUN_DIR`` (as far as it can be counted)."""
    run_dir = str(cfg.get("run_dir", ""))
    if (cfg.get("sweep") or {}).get("mode") == "shared":
        return f"the finished attempts of every point under {run_dir} are recorded"
    try:
        done = len(RunDir(run_dir).collect().records)
    except (ScaleError, OSError):
        return f"the finished attempts are recorded in {run_dir}"
    try:
        expected = f" of {len(load_from_config(cfg.get('data'))) * int(cfg.get('n_samples', 1))}"
    except (ScaleError, OSError, ValueError, TypeError):
        expected = ""
    return f"{done}{expected} attempts recorded in {run_dir}"


def main() -> None:
    try:
        take_config_dirs()
    except ScaleError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    run_app(_main)


if __name__ == "__main__":
    main()
