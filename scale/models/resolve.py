"""Resolve a model name to something ``from_pretrained`` can load, or fail in one line.

Order: an embedded name (see :mod:`scale.models.embedded`), an existing local folder,
then a Hub id (``org/name``), which works offline only when it is in the HF cache.
``load_model(..., adapter=FOLDER)`` merges a peft LoRA adapter (safetensors only) into the
base, after checking that the adapter was trained on that base.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from scale.errors import ConfigError, ModelNotFoundError
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


def _load_tokenizer(source: str, name: str, **kwargs: Any):
    """Tokenizer from an already-resolved ``source`` (failures name ``name``), with a pad
    token (eos where it has none); its padding side is left as the tokenizer has it."""
    from transformers import AutoTokenizer

    kwargs.setdefault("trust_remote_code", False)
    try:
        tok = AutoTokenizer.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as err:  # not cached, Hub unreachable, no tokenizer files
        raise _tried(name, err) from err
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_tokenizer(name: str, **kwargs: Any):
    """Tokenizer for ``name`` with left padding and a pad token (for batched generation)."""
    tok = _load_tokenizer(resolve_model(name), name, **kwargs)
    tok.padding_side = "left"
    return tok


def load_model(name: str, dtype: str = "auto", device: str = "cpu", adapter: str | None = None,
               device_map: Any = None, **kwargs: Any):
    """Causal LM for ``name`` in eval mode on ``device``; safetensors only, no remote code.

    ``adapter``: a peft LoRA folder trained on ``name``, merged into the weights (so the
    engines see a plain model of the base's class). ``device_map`` (e.g. ``"auto"``): spread
    by Accelerate's big-model inference instead of moved to ``device``.
    """
    import torch
    from transformers import AutoModelForCausalLM

    source = resolve_model(name)
    torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
    kwargs.setdefault("trust_remote_code", False)
    kwargs.setdefault("use_safetensors", True)
    if device_map is not None:
        kwargs["device_map"] = device_map
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype, **kwargs)
    except (OSError, ValueError) as err:
        raise _tried(name, err) from err
    if adapter:
        model = apply_adapter(model, adapter, name)
    return (model if device_map is not None else model.to(device)).eval()


def adapter_base(adapter: str) -> str | None:
    """The base model an adapter folder was trained on (its adapter_config.json), checked
    to be a peft adapter with safetensors weights; None when the config does not say."""
    path = Path(adapter).expanduser()
    config = path / "adapter_config.json"
    if not config.is_file():
        raise ModelNotFoundError(f"adapter {adapter}: no adapter_config.json there (not a peft adapter folder)")
    if not (path / "adapter_model.safetensors").is_file():
        pickled = " (adapter_model.bin is refused: pickle; save it with safe_serialization)" \
            if (path / "adapter_model.bin").is_file() else ""
        raise ModelNotFoundError(f"adapter {adapter}: no adapter_model.safetensors{pickled}")
    try:
        raw = json.loads(config.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ConfigError(f"{config}: malformed JSON ({err.msg} at line {err.lineno})") from None
    base = raw.get("base_model_name_or_path") if isinstance(raw, dict) else None
    return str(base) if base else None


def same_base(a: str, b: str) -> bool:
    """Two names of one base model: equal, resolving to the same folder, or the same final
    name (a Hub id and a local download of it: ``Qwen/Qwen2.5-7B`` and ``/models/Qwen2.5-7B``)."""
    if a == b:
        return True
    folders = []
    for name in (a, b):
        try:
            folders.append(Path(resolve_model(name)).expanduser().resolve())
        except ModelNotFoundError:
            folders.append(None)
    if folders[0] is not None and folders[0] == folders[1]:
        return True
    return Path(a.rstrip("/")).name.lower() == Path(b.rstrip("/")).name.lower()


def apply_adapter(model, adapter: str, base: str):
    """``model`` (loaded from ``base``) with the LoRA adapter in ``adapter`` merged in.

    Refuses, in one line, an adapter trained on another base or one whose weights do not
    fit the model.
    """
    trained_on = adapter_base(adapter)
    if trained_on is not None and not same_base(trained_on, base):
        raise ConfigError(f"adapter {adapter} was trained on {trained_on!r}, not on this engine's model {base!r}")
    try:
        from peft import PeftModel
    except ImportError as err:
        raise ConfigError(f"adapter {adapter}: loading an adapter needs peft (pip install 'scale-tts[train]')") from err
    try:
        tuned = PeftModel.from_pretrained(model, str(Path(adapter).expanduser()), is_trainable=False)
    except (RuntimeError, ValueError, KeyError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"adapter {adapter} does not fit model {base!r}: {first[:200]}") from err
    log.info("merged adapter %s into %s", adapter, base)
    return tuned.merge_and_unload()
