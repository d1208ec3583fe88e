"""Shared fixtures: small deterministic markets, hand-made frames and a scripted model.

Helpers are exposed as session-scoped fixtures returning plain functions/classes
(so Hypothesis tests can use them without function-scoped-fixture warnings).

Hypothesis: one profile scheme for the whole suite, loaded here once. ``HYPOTHESIS_PROFILE``
selects it: "dev" (default: 60 examples, derandomized, so a run is repeatable and quick) or
"ci" (400 examples, random). A test that needs more or fewer examples than the profile scales
``settings.default.max_examples`` (the loaded profile's) rather than registering its own.
"""

from __future__ import annotations

import math
import os
from datetime import datetime, timedelta
from typing import Any, Callable

import polars as pl
import pytest
from hypothesis import HealthCheck, settings

from signalflow.data.synthetic import make_synthetic_market

HYPOTHESIS_PROFILES = {
    "dev": {"max_examples": 60, "derandomize": True},
    "ci": {"max_examples": 400},
}
for _name, _options in HYPOTHESIS_PROFILES.items():
    settings.register_profile(_name, deadline=None, suppress_health_check=[HealthCheck.too_slow], **_options)
_profile = os.environ.get("HYPOTHESIS_PROFILE", "dev")
if _profile not in HYPOTHESIS_PROFILES:
    raise pytest.UsageError(f"HYPOTHESIS_PROFILE must be one of {', '.join(HYPOTHESIS_PROFILES)}, was {_profile!r}")
settings.load_profile(_profile)

T0 = datetime(2024, 1, 1)
INTERVAL = timedelta(minutes=1)


def bar_time(i: int) -> datetime:
    """Timestamp of bar `i` of the hand-made frames (1-minute bars from T0)."""
    return T0 + i * INTERVAL


def make_bars(prices: dict[str, list[Any]]) -> pl.DataFrame:
    """Long OHLCV from per-pair lists, one entry per bar index.

    An entry is a float (open = high = low = close), an `(open, high, low, close)`
    tuple, or None (the pair has no bar at that index).
    """
    rows: list[dict[str, Any]] = []
    n = max(len(v) for v in prices.values())
    for i in range(n):
        for pair in sorted(prices):
            values = prices[pair]
            entry = values[i] if i < len(values) else None
            if entry is None:
                continue
            if isinstance(entry, tuple):
                o, h, l, c = entry
            else:
                o = h = l = c = float(entry)
            rows.append(
                {"pair": pair, "timestamp": bar_time(i), "open": float(o), "high": float(h),
                 "low": float(l), "close": float(c), "volume": 1.0}
            )
    return pl.DataFrame(
        rows,
        schema={"pair": pl.String, "timestamp": pl.Datetime("us"), "open": pl.Float64, "high": pl.Float64,
                "low": pl.Float64, "close": pl.Float64, "volume": pl.Float64},
    )


def make_signals(rows: list[tuple[str, int, str, float]]) -> pl.DataFrame:
    """Signals frame from `(pair, bar index, signal_type, probability)` tuples."""
    return pl.DataFrame(
        {
            "pair": [r[0] for r in rows],
            "timestamp": [bar_time(r[1]) for r in rows],
            "signal_type": [r[2] for r in rows],
            "probability": [float(r[3]) for r in rows],
        },
        schema={"pair": pl.String, "timestamp": pl.Datetime("us"), "signal_type": pl.String, "probability": pl.Float64},
    )


class ScriptedModel:
    """A model whose decisions per bar index come from `script` (callables get the context).

    Records every call: `calls` is the list of contexts it was given.
    """

    def __init__(self, script: dict[int, Any] | Callable[[Any], list] | None = None) -> None:
        self.script = script or {}
        self.calls: list[Any] = []

    def decide(self, context):
        self.calls.append(context)
        if callable(self.script):
            return self.script(context)
        item = self.script.get(context.bar_index, [])
        return item(context) if callable(item) else list(item)


def assert_accounting(state, initial_capital: float, *, rel: float = 1e-9) -> None:
    """equity == cash + marked positions; initial + realised + unrealised - fees == equity."""
    pf = state.portfolio
    equity = pf.equity
    marked = sum(p.market_value for p in pf.open_positions())
    assert math.isclose(equity, pf.cash + marked, rel_tol=rel, abs_tol=1e-9)
    unrealized = sum(p.unrealized_pnl for p in pf.open_positions())
    assert math.isclose(initial_capital + pf.realized_pnl + unrealized - pf.fees_paid, equity, rel_tol=rel, abs_tol=1e-7)


@pytest.fixture(scope="session")
def bars():
    return make_bars


@pytest.fixture(scope="session")
def sigs():
    return make_signals


@pytest.fixture(scope="session")
def at():
    return bar_time


@pytest.fixture(scope="session")
def scripted():
    return ScriptedModel


@pytest.fixture(scope="session")
def accounting():
    return assert_accounting


@pytest.fixture(scope="session")
def small_market():
    """3 pairs x 400 one-minute bars, 5% signal rate; frames are immutable, share freely."""
    return make_synthetic_market(seed=7, n_pairs=3, n_bars=400, signal_rate=0.05, volatility=0.006, horizon=10)


@pytest.fixture(scope="session", autouse=True)
def _sb3_default_logs_in_pytest_tmp(tmp_path_factory):
    """Tests that train SB3 models directly (without `train()`, which gives each model its own
    logger) would leave `SB3-<time>` folders in the system temp folder; SB3 writes them under
    SB3_LOGDIR instead, inside pytest's own temporary folder."""
    previous = os.environ.get("SB3_LOGDIR")
    os.environ["SB3_LOGDIR"] = str(tmp_path_factory.mktemp("sb3_default_logs"))
    yield
    if previous is None:
        os.environ.pop("SB3_LOGDIR", None)
    else:
        os.environ["SB3_LOGDIR"] = previous
