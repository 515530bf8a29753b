"""Methods: scale, cot, majority, inftythink (each built from its config's ``_target_``)."""

from scale.methods.base import Attempt, Context, Method

__all__ = ["Attempt", "Context", "Method"]
