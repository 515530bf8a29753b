"""Put the folders in ``$SCALE_CONFIG_DIR`` (os.pathsep-separated) first in Hydra's search path.

``scale-eval --config-dir DIR`` sets it, so a user's ``DIR/router/threshold.yaml`` replaces
the shipped one and ``DIR/experiment/mine.yaml`` is found; Hydra's own ``--config-dir``
would search DIR only after the shipped configs.
"""

from __future__ import annotations

import os

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

ENV = "SCALE_CONFIG_DIR"


class ScaleUserConfigs(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        dirs = [d for d in os.environ.get(ENV, "").split(os.pathsep) if d]
        for d in reversed(dirs):
            search_path.prepend(provider="scale-user", path=f"file://{os.path.abspath(d)}")
