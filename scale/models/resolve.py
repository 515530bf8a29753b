"""Resolve a model name to something ``from_pretrained`` can load, or fail in one line.

Order: an embedded name (see :mod:`scale.models.embedded`), an existing local folder,
then a Hub id (``org/name``), which works offline only when it is in the HF cache.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from scale.errors import ModelNotFoundError
from scale.models.embedded import _BUILDERS, ensure_embedded

log = logging.getLogger(__name__)

EMBEDDED_MODELS = tuple(_BUILDERS)


def resolve_model(name: str) -> str:
    """Return a local folder or a Hub id for ``name``; raise ModelNotFoundError otherwise."""
    if not isinstance(name, str) or not name.strip():
        raise ModelNotFoundError(f"model name must be a non-empty string, got {name!r}")
    if name in _BUILDERS:
        return str(ensure_embedded(name))
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(f"model folder {path} has no config.json")
        return str(path)
    looks_like_hub_id = name.count("/") == 1 and not name.startswith((".", "/", "~"))
    if looks_like_hub_id:
        return name
    raise ModelNotFoundError(
        f"model {name!r} not found: not an embedded model ({', '.join(EMBEDDED_MODELS)}), "
        f"no folder at {path.resolve()}, not a Hub id of the form org/name"
    )


def _tried(name: str, err: Exception) -> ModelNotFoundError:
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return ModelNotFoundError(
        f"model {name!r} could not be loaded (local folder missing; Hub id not in the local "
        f"cache or Hub unreachable): {first[:200]}"
    )


def load_tokenizer(name: str, **kwargs: Any):
    """Tokenizer for ``name`` with left padding and a pad token (for batched generation)."""
    from transformers import AutoTokenizer

    source = resolve_model(name)
    kwargs.setdefault("trust_remote_code", False)
    try:
        tok = AutoTokenizer.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as err:
        raise _tried(name, err) from err
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(name: str, dtype: str = "auto", device: str = "cpu", **kwargs: Any):
    """Causal LM for ``name`` in eval mode on ``device``; safetensors only, no remote code."""
    import torch
    from transformers import AutoModelForCausalLM

    source = resolve_model(name)
    torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
    kwargs.setdefault("trust_remote_code", False)
    kwargs.setdefault("use_safetensors", True)
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype, **kwargs)
    except (OSError, ValueError) as err:
        raise _tried(name, err) from err
    return model.to(device).eval()
