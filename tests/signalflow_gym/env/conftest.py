"""Fixtures of the `signalflow_gym` tests (helpers live in `gymtest_helpers.py`)."""

from __future__ import annotations

import pytest

from gymtest_helpers import small_market_data, small_synthetic
from signalflow.strategy.runner.market_data import MarketData


@pytest.fixture(scope="session")
def market() -> MarketData:
    return small_market_data()


@pytest.fixture(scope="session")
def synthetic():
    return small_synthetic()
