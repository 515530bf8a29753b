"""Server credentials stay out of every file a run writes.

A key is read from the environment (``OPENAI_API_KEY``, or the variable an engine names with
``api_key_env``), never from the command line: ``engine.api_key=...`` on the command line
would be copied into ``config.json``, ``env.json`` (argv), Hydra's ``.hydra/*.yaml`` and
W&B, so :func:`check_argv` refuses it before Hydra writes anything. A key set in a config
file (or in a dict handed to ``run_eval``) still runs, and :func:`redact` takes it out of
what is written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from scale.errors import ConfigError

SECRET_KEYS = frozenset({"api_key"})
REDACTED = "<redacted>"
DEFAULT_KEY_ENV = "OPENAI_API_KEY"

# An override that sets a secret: engine.api_key=..., +systems.engines.main.api_key=..., api_key=...
_SECRET_OVERRIDE = re.compile(r"^[+~]{0,2}(?P<key>(?:[\w-]+\.)*(?:" + "|".join(SECRET_KEYS) + r"))=(?P<value>.*)$",
                              re.S)
_NULLS = ("", "null", "~", "none", "None")


def check_argv(argv: Sequence[str]) -> None:
    """Refuse a credential given as a command-line override (one line naming the variable)."""
    for arg in argv:
        m = _SECRET_OVERRIDE.match(arg)
        if m and m.group("value").strip() not in _NULLS:
            raise ConfigError(
                f"{m.group('key')}: a key on the command line is written into the run dir (config.json, "
                f"env.json, .hydra/) and W&B; export {DEFAULT_KEY_ENV}=... instead (or name another "
                f"variable with engine.api_key_env=VAR)"
            )


def secrets_in(cfg: Any) -> list[str]:
    """Every literal credential in a config tree (the values under ``api_key``)."""
    found: list[str] = []
    if isinstance(cfg, dict):
        for k, v in cfg.items():
            if k in SECRET_KEYS and isinstance(v, str) and v:
                found.append(v)
            else:
                found += secrets_in(v)
    elif isinstance(cfg, list | tuple):
        for v in cfg:
            found += secrets_in(v)
    return found


def redact(obj: Any, secrets: Sequence[str] | None = None) -> Any:
    """A copy of ``obj`` with every ``api_key`` value, and every occurrence of a secret in a
    string anywhere else, replaced by ``<redacted>``."""
    secrets = [s for s in (secrets_in(obj) if secrets is None else secrets) if s]
    return _redact(obj, secrets)


def _redact(obj: Any, secrets: Sequence[str]) -> Any:
    if isinstance(obj, dict):
        return {k: (REDACTED if k in SECRET_KEYS and v else _redact(v, secrets)) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_redact(v, secrets) for v in obj]
    if isinstance(obj, str):
        return redact_text(obj, secrets)
    return obj


def redact_text(text: str, secrets: Sequence[str] = ()) -> str:
    """``text`` with each secret, and the value of any ``...api_key=VALUE`` override, redacted."""
    for s in secrets:
        if s:
            text = text.replace(s, REDACTED)
    m = _SECRET_OVERRIDE.match(text)
    if m and m.group("value").strip() not in _NULLS:
        text = text[: m.start("value")] + REDACTED
    return text
