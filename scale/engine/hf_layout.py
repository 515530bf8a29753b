"""What a loaded model needs from a scheduler, checked once at load with one clear error.

- :func:`cache_layout`: the model's KV cache layout (which layers keep keys/values,
  their widths, bytes per token). The iteration scheduler keeps a full-attention cache
  per row; sliding-window, chunked, linear-attention and other layer kinds are refused
  here, naming the model type and the scheduler that runs it. Layers that keep no cache
  (MoE/MLP-only layers, KV-sharing consumers) are skipped; keys and values of different
  widths (multi-head latent attention: DeepSeek-V2/V3) are fine.
- :func:`check_generation_config`: settings in the model's ``generation_config`` that
  ``generate`` would apply as logits processors (``repetition_penalty`` and friends).
  No scheduler applies them the same way, so they are refused unless the config says
  how to treat them (``engine.generation_overrides``).
- :func:`check_placement`: a model spread over several devices (``engine.device_map``).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
from transformers import DynamicCache, cache_utils
from transformers.cache_utils import DynamicLayer

from scale.errors import ConfigError

# Layers that keep no cache: a DummyLayer where transformers has that class (>= 5.2x); before, MLP/MoE-only
# layers held an empty placeholder of another class, so their ``layer_types`` entry says it.
_NO_CACHE: tuple[type, ...] = tuple(c for c in (getattr(cache_utils, "DummyLayer", None),) if c is not None)
_NO_CACHE_TYPES = ("mlp", "moe")


def _cacheless(model, cache) -> set[int]:
    """Indices of the layers that keep no keys/values."""
    config = model.config.get_text_config(decoder=True)
    types = list(getattr(config, "layer_types", None) or [])
    return {i for i, layer in enumerate(cache.layers)
            if type(layer) in _NO_CACHE or (i < len(types) and types[i] in _NO_CACHE_TYPES)}

# generation_config fields that make ``generate`` add a logits processor, with their neutral values.
PROCESSOR_FIELDS: dict[str, object] = {
    "repetition_penalty": 1.0, "encoder_repetition_penalty": 1.0, "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0, "bad_words_ids": None, "min_length": 0, "min_new_tokens": None,
    "min_p": None, "typical_p": 1.0, "epsilon_cutoff": 0.0, "eta_cutoff": 0.0, "top_h": None,
    "sequence_bias": None, "suppress_tokens": None, "begin_suppress_tokens": None,
    "forced_bos_token_id": None, "forced_eos_token_id": None, "exponential_decay_length_penalty": None,
    "renormalize_logits": False, "guidance_scale": None, "watermarking_config": None,
    "diversity_penalty": 0.0, "remove_invalid_values": False,
}


@dataclass(frozen=True)
class CacheLayout:
    model_type: str
    kv_layers: tuple[int, ...]  # indices of the layers that keep keys/values
    bytes_per_token: int  # keys + values of one token over every layer, in the model's dtype


def model_type(model) -> str:
    return str(getattr(model.config, "model_type", type(model).__name__))


def cache_layout(model, scheduler: str = "iteration") -> CacheLayout:
    """The model's cache layout, or a ConfigError naming what ``scheduler`` cannot run."""
    mtype = model_type(model)
    cache = DynamicCache(config=model.config)
    skip = _cacheless(model, cache)
    kinds = {type(layer).__name__ for i, layer in enumerate(cache.layers) if type(layer) is not DynamicLayer and i not in skip}
    if kinds:
        raise ConfigError(
            f"engine.scheduler={scheduler} keeps a full-attention KV cache per row; model type {mtype!r} "
            f"has {', '.join(sorted(kinds))} layers (sliding-window / chunked / linear attention). "
            "Use engine.scheduler=static (transformers generate) or continuous (paged)."
        )
    kv = tuple(i for i, layer in enumerate(cache.layers) if type(layer) is DynamicLayer and i not in skip)
    if not kv:
        raise ConfigError(f"engine.scheduler={scheduler}: model type {mtype!r} keeps no KV cache; "
                          "use engine.scheduler=static")
    # One real token through the model: the widths and dtype its layers actually cache.
    probe = DynamicCache(config=model.config)
    cache_kw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    ids = torch.zeros((1, 1), dtype=torch.long, device=model.device)
    try:
        with torch.inference_mode():
            model(input_ids=ids, use_cache=True, logits_to_keep=1, **{cache_kw: probe})
    except Exception as err:
        raise ConfigError(f"engine.scheduler={scheduler}: model type {mtype!r} failed a one-token probe "
                          f"({type(err).__name__}: {str(err).splitlines()[0][:160]}); "
                          "use engine.scheduler=static") from err
    per_token = 0
    for i in kv:
        layer = probe.layers[i]
        if layer.keys is None or layer.keys.dim() != 4 or layer.keys.shape[-2] != 1:
            raise ConfigError(f"engine.scheduler={scheduler}: model type {mtype!r} caches layer {i} in an "
                              "unexpected shape; use engine.scheduler=static")
        per_token += layer.keys.numel() * layer.keys.element_size()
        per_token += layer.values.numel() * layer.values.element_size()
    return CacheLayout(mtype, kv, per_token)


def check_generation_config(model, scheduler: str, overrides: dict | None = None) -> None:
    """Apply ``overrides`` to the model's generation_config, then refuse processor settings."""
    config = model.generation_config
    for key, value in (overrides or {}).items():
        if not hasattr(config, key):
            raise ConfigError(f"engine.generation_overrides: {key!r} is not a generation_config field")
        setattr(config, key, value)
    active = {k: getattr(config, k, None) for k, neutral in PROCESSOR_FIELDS.items()
              if getattr(config, k, None) not in (neutral, None)}
    if active:
        settings = ", ".join(f"{k}={v!r}" for k, v in sorted(active.items()))
        neutral = ", ".join(f"{k}: {PROCESSOR_FIELDS[k]!r}" for k in sorted(active)).replace("None", "null")
        raise ConfigError(
            f"model type {model_type(model)!r}: its generation_config sets {settings}; the hf engine "
            f"applies no generation_config logits processors (engine.scheduler={scheduler} and the other "
            f"schedulers must agree token for token). Set engine.generation_overrides={{{neutral}}} "
            "to run without it, or serve the model with a server that applies it (engine=openai)."
        )


def model_devices(model) -> set[str]:
    """The devices ``engine.device_map`` spread the model over (empty when it was not spread)."""
    return {str(d) for d in (getattr(model, "hf_device_map", None) or {}).values()}


def check_placement(model, scheduler: str) -> None:
    """Refuse a model spread over several devices for the schedulers that keep one cache."""
    devices = model_devices(model)
    if len(devices) > 1:
        raise ConfigError(
            f"engine.scheduler={scheduler} keeps its KV cache on one device; engine.device_map placed model "
            f"type {model_type(model)!r} on {sorted(devices)}. Use engine.scheduler=static for a model spread "
            "over several devices."
        )
