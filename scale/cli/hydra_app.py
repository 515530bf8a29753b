"""The Hydra entry points (``scale-eval``, ``train_difficulty.py``, ``sft_on_traces.py``) end a
config mistake in one line and exit status 2.

Hydra prints a composition error over several lines, with a ``+key=value`` hint the project
then rejects, and exits 1. :func:`run_app` makes Hydra raise instead (``HYDRA_FULL_ERROR``,
for the call only) and prints one line: an unknown key with the closest valid keys, a missing
config option with the available ones. :class:`CheckRunDir` (a Hydra callback, see
``configs/eval.yaml``) checks ``run_dir`` before Hydra makes its ``.hydra_run`` folder in it.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Callable
from typing import Any

from hydra.errors import HydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from scale.errors import ScaleError
from scale.outputs import check_output_dir

try:
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover - older Hydra
    Callback = object  # type: ignore[assignment,misc]


def run_app(app: Callable[[], Any], argv: list[str] | None = None) -> None:
    """Call a ``@hydra.main`` function; config errors become one ``error:`` line, exit 2."""
    argv = sys.argv[1:] if argv is None else argv
    old = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"  # raise, do not print: the line below replaces Hydra's report
    try:
        app()
    except (HydraException, OmegaConfBaseException, ScaleError) as err:
        print(f"error: {describe(err, argv)}", file=sys.stderr)
        sys.exit(2)
    finally:
        if old is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = old


def describe(err: BaseException, argv: list[str]) -> str:
    """One line for a Hydra or OmegaConf error (or a ScaleError raised from a callback)."""
    if isinstance(err, ScaleError):
        return str(err)
    found = re.match(r"Could not override '([^']+)'", str(err))
    cause = err.__cause__
    if found and isinstance(cause, OmegaConfBaseException) and isinstance(cause.parent_node, DictConfig):
        return unknown_key(found.group(1), cause, argv)
    # Hydra's other messages: a header, then one option a line ("Available options in 'data':").
    text = str(err).split("Config search path:")[0]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    out: list[str] = []
    for line in lines:
        if out and out[-1].endswith(":"):
            out[-1] += " " + line
        elif out and re.search(r"options in '[^']*': ", out[-1]):
            out[-1] += ", " + line
        else:
            out.append(line)
    return "; ".join(out) or type(err).__name__


def unknown_key(key: str, cause: OmegaConfBaseException, argv: list[str]) -> str:
    """``KEY=VALUE: no such key`` and the closest keys where it was given."""
    given = next((a for a in argv if a.split("=", 1)[0] == key), key)
    full = str(cause.full_key or key)
    prefix = full.rpartition(".")[0]
    keys = [k for k in map(str, cause.parent_node.keys()) if k != "hydra"]  # type: ignore[union-attr]
    close = difflib.get_close_matches(str(cause.key), keys, n=3, cutoff=0.5)
    where = f"in {prefix}" if prefix else "at the top level"
    name = (lambda k: f"{prefix}.{k}" if prefix else k)
    if close:
        return f"{given}: no key {full!r} in the config; closest: {', '.join(map(name, close))}"
    return f"{given}: no key {full!r} in the config; the keys {where}: {', '.join(sorted(keys))}"


class CheckRunDir(Callback):  # type: ignore[misc]
    """``run_dir`` can be a folder, checked before Hydra makes ``run_dir/.hydra_run``."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Hydra turns a callback's exception into a warning and goes on: exit here.
        try:
            if "run_dir" in config:
                check_output_dir(str(config.run_dir), "run_dir")
        except ScaleError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)
