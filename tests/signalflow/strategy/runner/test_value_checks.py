"""Numbers are checked by meaning, not by Python type: numpy scalars are numbers, bools are not.

`StrategyDecision`, `TakeProfitStopLossExit`, `ModelEntryRule` and `BacktestRunner` take
what a torch or numpy model produces (`np.float32`, `np.int64`) wherever a number is meant,
refuse `True`/`False` there, and refuse levels that cannot mean anything (a stop-loss or a
take-profit of 100% or more).
"""

from __future__ import annotations

import numpy as np
import pytest

from signalflow.core.errors import ConfigError, DecisionError
from signalflow.strategy.component.exit import TakeProfitStopLossExit
from signalflow.strategy.model import ModelEntryRule, StrategyAction, StrategyDecision
from signalflow.strategy.runner import BacktestRunner

ENTER = StrategyAction.ENTER


class _Model:
    def decide(self, context):
        return []


@pytest.mark.parametrize("value", [np.float32(0.5), np.float16(0.25), np.float64(1.0), np.int64(1), np.int8(0)])
def test_decision_confidence_accepts_numpy_scalars(value):
    d = StrategyDecision(action=ENTER, pair="X", confidence=value)
    assert d.confidence == float(value)


@pytest.mark.parametrize("value", [np.float32(2.0), np.int64(3)])
def test_decision_size_multiplier_accepts_numpy_scalars(value):
    assert StrategyDecision(action=ENTER, pair="X", size_multiplier=value).size_multiplier == float(value)


@pytest.mark.parametrize("field", ["confidence", "size_multiplier"])
@pytest.mark.parametrize("value", [True, False, np.bool_(True)])
def test_decision_refuses_bools_where_a_number_is_meant(field, value):
    with pytest.raises(DecisionError, match=rf"{field}`? must be .*was {value!r}"):
        StrategyDecision(action=ENTER, pair="X", **{field: value})


@pytest.mark.parametrize("name", ["take_profit_pct", "stop_loss_pct"])
@pytest.mark.parametrize("value", [1.5, 1.0, 0.0, -0.1, float("nan"), float("inf"), True, "0.05"])
def test_tp_sl_levels_must_be_fractions_in_0_1(name, value):
    with pytest.raises(ConfigError, match=rf"^`{name}` must be a fraction in \(0, 1\) \(0\.05 == 5%\), was {value!r}"):
        TakeProfitStopLossExit(**{name: value})


def test_tp_sl_accepts_numpy_levels_and_none_for_an_unused_level():
    rule = TakeProfitStopLossExit(take_profit_pct=np.float32(0.05), stop_loss_pct=None)
    assert rule.take_profit_pct == pytest.approx(0.05) and type(rule.take_profit_pct) is float
    assert rule.stop_loss_pct is None
    assert TakeProfitStopLossExit(take_profit_pct=None, stop_loss_pct=0.03).take_profit_pct is None
    with pytest.raises(ConfigError, match="set `take_profit_pct`, `stop_loss_pct` or both"):
        TakeProfitStopLossExit(take_profit_pct=None, stop_loss_pct=None)


def test_entry_rule_sizing_takes_numpy_numbers_and_refuses_bools():
    rule = ModelEntryRule(_Model(), base_position_size=np.float32(0.2), max_positions=np.int64(4),
                          min_confidence=np.float64(0.5))
    assert (rule.base_position_size, rule.max_positions, rule.min_confidence) == (pytest.approx(0.2), 4, 0.5)
    assert type(rule.max_positions) is int
    for kwargs in ({"base_position_size": True}, {"min_confidence": True}, {"max_positions": True}):
        with pytest.raises(ConfigError, match=f"`{next(iter(kwargs))}` must be"):
            ModelEntryRule(_Model(), **kwargs)


def test_runner_initial_capital_takes_numpy_and_refuses_bools():
    assert BacktestRunner(initial_capital=np.float32(5000.0)).initial_capital == 5000.0
    with pytest.raises(ConfigError, match=r"`initial_capital` must be a positive number, was True"):
        BacktestRunner(initial_capital=True)
