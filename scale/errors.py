"""User-facing errors: one line naming the file, line, field or value at fault.

Scripts catch :class:`ScaleError` and print its message instead of a traceback.
"""


class ScaleError(Exception):
    """Base for errors caused by user input (config, data, model names)."""


class DataError(ScaleError):
    """A benchmark file or row is missing or malformed."""


class ConfigError(ScaleError):
    """A config value is unknown or out of range."""


class ModelNotFoundError(ScaleError):
    """A model name resolves to nothing loadable."""


class EngineError(ScaleError):
    """A generation backend failed for good (retries exhausted, server gone)."""
