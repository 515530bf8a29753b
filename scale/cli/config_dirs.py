"""``--config-dir DIR`` for the Hydra entry points: the user's folder is searched first.

Hydra's own flag appends DIR after the shipped configs, so a user's file could never
replace a shipped one. This takes the flag off the command line and hands DIR to the
search-path plugin in ``hydra_plugins/scale_user_configs`` through ``$SCALE_CONFIG_DIR``.
"""

from __future__ import annotations

import os
import sys

from scale.errors import ConfigError

ENV = "SCALE_CONFIG_DIR"
_FLAGS = ("--config-dir", "-cd")


def take_config_dirs(argv: list[str] | None = None) -> list[str]:
    """Remove every ``--config-dir DIR`` / ``--config-dir=DIR`` / ``-cd DIR`` from ``argv``
    (``sys.argv`` by default) and put the folders first in ``$SCALE_CONFIG_DIR``."""
    args = sys.argv if argv is None else argv
    found: list[str] = []
    i = 1
    while i < len(args):
        arg = args[i]
        flag, eq, value = arg.partition("=")
        if flag in _FLAGS and eq:
            found.append(value)
            del args[i]
        elif arg in _FLAGS:
            if i + 1 >= len(args):
                raise ConfigError(f"{arg} needs a folder")
            found.append(args[i + 1])
            del args[i:i + 2]
        else:
            i += 1
    for d in found:
        if not os.path.isdir(d):
            raise ConfigError(f"--config-dir {d}: no such folder")
    if found:
        old = [d for d in os.environ.get(ENV, "").split(os.pathsep) if d]
        os.environ[ENV] = os.pathsep.join([os.path.abspath(d) for d in found] + old)
    return found
