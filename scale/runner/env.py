"""env.json: package versions, git sha, host and GPU, for reproducibility."""

from __future__ import annotations

import copy
import functools
import importlib.metadata
import platform
import socket
import subprocess
import sys
from typing import Any

from scale.paths import REPO_ROOT

PACKAGES = ("scale-tts", "torch", "transformers", "peft", "accelerate", "trl", "hydra-core",
            "math-verify", "datasets", "aiohttp")


def _git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
        dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain"], capture_output=True,
                               text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip() or None
    return f"{sha}+dirty" if sha and dirty.stdout.strip() else sha


def machine_state() -> dict[str, Any]:
    """What changes timings on a shared box: cores, torch threads, load (for benchmark records)."""
    import os

    import torch

    return {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


def environment() -> dict[str, Any]:
    """What env.json records; computed once per process (a shared sweep opens many run dirs)."""
    from scale.secrets import redact_text

    return {**copy.deepcopy(_process_environment()), "argv": [redact_text(a) for a in sys.argv]}


@functools.cache
def _process_environment() -> dict[str, Any]:
    """The parts that hold for the whole process: versions, git sha, host, GPUs."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    gpu = None
    try:
        import torch

        if torch.cuda.is_available():
            gpu = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        pass
    return {"python": sys.version.split()[0], "platform": platform.platform(), "host": socket.gethostname(),
            "git_sha": _git_sha(), "packages": versions, "gpu": gpu}
