"""Model names -> loadable folders: embedded models, local paths, Hub ids."""

from scale.models.resolve import EMBEDDED_MODELS, load_model, load_tokenizer, resolve_model

__all__ = ["EMBEDDED_MODELS", "load_model", "load_tokenizer", "resolve_model"]
