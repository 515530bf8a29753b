"""Methods (registry by name): scale, cot, majority, inftythink."""

from scale.methods import cot, inftythink, majority, scale_method  # noqa: F401  (registration)
from scale.methods.base import METHODS, Attempt, Context, Method, build_method, register_method

__all__ = ["METHODS", "Attempt", "Context", "Method", "build_method", "register_method"]
