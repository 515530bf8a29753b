"""Experiment trackers, called once by the runner after a run is finalized (``logger=...``).

``logger=none`` (the default) builds nothing and imports nothing; ``logger=wandb`` builds
:class:`scale.tracking.wandb_logger.WandbLogger` from the ``logger`` node (``_target_`` +
arguments, :func:`scale.build.build`). A tracker never decides a run's fate: whatever it
raises is logged as a warning, and the run dir is already complete when it is called.

A tracker is any class with ``log_run(cfg, run_dir, metrics, records=None)``: ``records`` are
the run's records in key order where the caller holds them already (the runner, after
finalize), else None (read them from ``run_dir``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scale.rundir import Metrics, Record

log = logging.getLogger(__name__)


def check_logger(cfg: dict[str, Any]) -> None:
    """Build the configured tracker before the run starts, so a typo (``logger.mode=onlin``)
    or a missing package stops the run now, not as a warning hours later."""
    node = cfg.get("logger")
    if not isinstance(node, dict) or not node.get("_target_"):
        return
    from scale.build import build

    build(node, "logger")  # a missing wandb is a one-line ConfigError from build


def after_run(cfg: dict[str, Any], run_dir: str | Path, metrics: Metrics,
              records: Sequence[Record] | None = None) -> None:
    """Hand a finished run to the configured tracker, if any (the runner's one hook);
    ``records``: the run's records in key order, where the caller has them."""
    node = cfg.get("logger")
    if not isinstance(node, dict) or not node.get("_target_"):
        return
    try:
        from scale.build import build

        tracker = build(node, "logger")
        from scale.secrets import redact

        tracker.log_run(redact(cfg), Path(run_dir), metrics, records=records)  # no credential leaves
    except Exception as err:
        log.warning("logger %s failed (the run dir is complete): %s: %s", node.get("name"),
                    type(err).__name__, err)
