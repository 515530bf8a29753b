"""The one-line DataError that load_benchmark raises, for the data tests."""

from __future__ import annotations

import pytest

from scale.data import load_benchmark
from scale.errors import DataError


def load_error(**kwargs) -> str:
    """The message of the DataError ``load_benchmark(**kwargs)`` raises, checked to be one line
    without a traceback."""
    with pytest.raises(DataError) as info:
        load_benchmark(**kwargs)
    msg = str(info.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg
