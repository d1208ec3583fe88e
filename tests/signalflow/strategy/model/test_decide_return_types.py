"""What `decide()` returns: None, a decision or an iterable of decisions; anything else is a
`DecisionError` naming the model and the expected type (not a raw `TypeError` from the cache)."""

from __future__ import annotations

import re

import pytest

from signalflow.core import DecisionError
from signalflow.strategy.broker import BacktestBroker
from signalflow.strategy.broker.executor import VirtualSpotExecutor
from signalflow.strategy.model import ModelEntryRule, ModelExitRule, StrategyAction, StrategyDecision
from signalflow.strategy.runner import BacktestRunner

PRICES = {"A": [100.0, 101.0, 102.0]}


class Returns:
    def __init__(self, value):
        self.value = value

    def decide(self, context):
        return self.value


def _run(bars, model):
    runner = BacktestRunner(
        broker=BacktestBroker(executor=VirtualSpotExecutor(fee_rate=0.0)),
        entry_rules=[ModelEntryRule(model=model, base_position_size=0.1)],
        exit_rules=[ModelExitRule(model=model)],
    )
    runner.run(bars(PRICES), None)
    return runner


@pytest.mark.parametrize("value", [5, 2.5, "enter", {"action": "enter"}, b"x", object()],
                         ids=["int", "float", "str", "dict", "bytes", "object"])
def test_decide_returning_a_non_list_names_the_model_and_the_expected_type(bars, value):
    with pytest.raises(DecisionError, match=r"^Returns\.decide\(\) must return a list of StrategyDecision \(or None\), "
                                            rf"was {re.escape(type(value).__name__)}: "):
        _run(bars, Returns(value))


@pytest.mark.parametrize("value", [None, [], (), False])
def test_decide_returning_nothing_is_no_decision(bars, value):
    assert _run(bars, Returns(value)).trades_df.height == 0


def test_decide_returning_a_decision_or_a_generator_is_accepted(bars):
    enter = StrategyDecision(action=StrategyAction.ENTER, pair="A")
    assert _run(bars, Returns(enter)).trades_df.height == 3  # one entry per bar

    class Gen:
        def decide(self, context):
            return (d for d in [enter] if context.bar_index == 0)

    assert _run(bars, Gen()).trades_df.height == 1
