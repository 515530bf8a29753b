"""Model names -> loadable folders: embedded models, local paths, Hub ids."""

from scale.models.resolve import (
    EMBEDDED_MODELS,
    adapter_base,
    apply_adapter,
    load_model,
    load_tokenizer,
    resolve_model,
    same_base,
)

__all__ = ["EMBEDDED_MODELS", "adapter_base", "apply_adapter", "load_model", "load_tokenizer", "resolve_model",
           "same_base"]
