"""Where things live: the configs, the cache dir, the shared benchmark data, the repo root."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# Shipped inside the package (scale/configs; in a checkout a link to the top-level configs/),
# so an installed `scale-eval` finds them from any folder. Users add theirs with --config-dir.
CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def cache_dir() -> Path:
    """``$SCALE_CACHE`` or ``~/.cache/scale``; created on demand."""
    path = Path(os.environ.get("SCALE_CACHE", Path.home() / ".cache" / "scale")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def shared_data_dir() -> Path:
    """Benchmark files shipped beside the checkout (``../shared/data``) or ``$SCALE_SHARED_DATA``."""
    env = os.environ.get("SCALE_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"
