"""What counts as a number: Python and numpy numbers, never a bool.

`True` is an `int` in Python, and `np.float32(0.5)` is not a `float`: checks written with
``isinstance(value, (int, float))`` accept the first and refuse the second. Every check of
a numeric argument uses these instead.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

__all__ = ["is_real", "is_integer", "is_finite_real"]


def is_real(value: Any) -> bool:
    """A real number (Python or numpy: int, float, np.float32, np.int64, ...), not a bool."""
    kind = type(value)
    if kind is float or kind is int:  # (most values: answered without the ABC check; a bool's type is bool)
        return True
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def is_finite_real(value: Any) -> bool:
    """A real number (see `is_real`) that is neither NaN nor infinite."""
    return is_real(value) and math.isfinite(value)


def is_integer(value: Any) -> bool:
    """An integer (Python int or numpy integer), not a bool."""
    if type(value) is int:  # (the common case, answered without the ABC check)
        return True
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
