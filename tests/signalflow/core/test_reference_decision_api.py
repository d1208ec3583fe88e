"""The reference implementation's own unit tests of decisions and contexts, as its users write them:
its import paths, hand-built `Position` and `ModelContext` with defaults, and its error wording."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import datetime

import polars as pl
import pytest

from signalflow.core.containers.position import Position
from signalflow.core.containers.signals import Signals
from signalflow.core.enums import PositionType
from signalflow.strategy.model.context import ModelContext
from signalflow.strategy.model.decision import StrategyAction, StrategyDecision

TS = datetime(2024, 1, 1)


@pytest.mark.parametrize("size", [0, -0.5])
def test_enter_requires_positive_size_multiplier(size):
    with pytest.raises(ValueError, match="^size_multiplier must be positive"):
        StrategyDecision(action=StrategyAction.ENTER, pair="BTCUSDT", size_multiplier=size)


def test_close_requires_position_id():
    with pytest.raises(ValueError, match="^CLOSE action requires position_id"):
        StrategyDecision(action=StrategyAction.CLOSE, pair="BTCUSDT")


@pytest.mark.parametrize("action", [StrategyAction.SKIP, StrategyAction.HOLD, StrategyAction.CLOSE_ALL])
def test_decisions_that_need_only_a_pair(action):
    decision = StrategyDecision(action=action, pair="BTCUSDT")
    assert decision.action is action and decision.position_id is None


def test_decision_is_frozen():
    decision = StrategyDecision(action=StrategyAction.ENTER, pair="BTCUSDT")
    with pytest.raises(FrozenInstanceError):
        decision.pair = "ETHUSDT"  # type: ignore[misc]


def test_hand_built_context_with_positions():
    signals = Signals(pl.DataFrame({"pair": ["BTCUSDT"], "timestamp": [TS], "signal_type": ["rise"], "signal": [1],
                                    "probability": [0.8]}))
    positions = [Position(id="p1", pair="BTCUSDT", position_type=PositionType.LONG, entry_price=50000.0, qty=0.1)]
    context = ModelContext(timestamp=TS, signals=signals, prices={"BTCUSDT": 51000.0}, positions=positions,
                           metrics={"equity": 10000.0, "max_drawdown": 0.05}, runtime={"regime": "trend_up"})
    assert context.signals.value.height == 1
    assert context.prices["BTCUSDT"] == 51000.0
    assert context.positions[0].unrealized_pnl == 0.0  # marked at its entry price until a bar marks it
    assert context.metrics["equity"] == 10000.0 and context.runtime["regime"] == "trend_up"


def test_hand_built_context_defaults_to_empty():
    context = ModelContext(timestamp=TS, signals=Signals(pl.DataFrame()))
    assert context.signals.value.height == 0 and len(context.signals) == 0
    assert (dict(context.prices), list(context.positions), dict(context.metrics), context.runtime) == ({}, [], {}, {})
    assert context.signals.ranked() == [] and context.signals.strongest("BTCUSDT") is None
    with pytest.raises(FrozenInstanceError):
        context.timestamp = datetime.now()  # type: ignore[misc]
