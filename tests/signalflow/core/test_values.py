"""`is_real` / `is_integer` / `is_finite_real`: Python and numpy numbers, never a bool."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from signalflow.core.values import is_finite_real, is_integer, is_real


class _Float(float):
    """A float subclass (answered by the ABC check, not the exact-type shortcut)."""


@pytest.mark.parametrize("value", [0, 1, -3, 0.5, math.inf, math.nan, np.float32(0.5), np.float64(2.0), np.int64(3), np.int8(-1), Fraction(1, 3), _Float(1.5)])
def test_real_numbers_are_real(value):
    assert is_real(value)


@pytest.mark.parametrize("value", [True, False, np.bool_(True), "1", None, Decimal("1.0"), 1j, [1.0], np.array([1.0])])
def test_bools_strings_complex_and_containers_are_not_real(value):
    assert not is_real(value)


@pytest.mark.parametrize("value", [0, -7, np.int64(3), np.uint8(4)])
def test_integers_are_integers(value):
    assert is_integer(value)


@pytest.mark.parametrize("value", [True, np.bool_(False), 1.0, np.float64(2.0), "3", None])
def test_bools_floats_and_strings_are_not_integers(value):
    assert not is_integer(value)


@pytest.mark.parametrize("value, finite", [(1.0, True), (0, True), (math.inf, False), (-math.inf, False), (math.nan, False), (np.float32("nan"), False), (True, False)])
def test_finite_reals(value, finite):
    assert is_finite_real(value) is finite
