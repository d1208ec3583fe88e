"""Regression: an intrabar take-profit or stop leaves no peak or drawdown the account never had.

It closes a position before the bar's close, so that bar's pre-trade view (the position marked
to the close, what a model deciding at the close is shown) is a state the account never had
at the close: it must not enter the running peak or maximum drawdown (found by an adversarial
probe: a +2% trade showed a 32% drawdown and ended an env episode at `termination.max_drawdown`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest

from signalflow.strategy.broker import BacktestBroker
from signalflow.strategy.broker.executor import VirtualSpotExecutor
from signalflow.strategy.component.exit import TakeProfitStopLossExit
from signalflow.strategy.model import ModelEntryRule, ModelExitRule, StrategyAction, StrategyDecision
from signalflow.strategy.runner import BacktestRunner

T0 = datetime(2024, 1, 1)


def _bars(bar1: tuple[float, float, float, float]) -> pl.DataFrame:
    """Pair A: flat at 100, then bar 1 = (open, high, low, close), then two bars at bar 1's close."""
    close = bar1[3]
    rows = [(100.0, 100.0, 100.0, 100.0), bar1, (close,) * 4, (close,) * 4]
    return pl.DataFrame(
        {"pair": ["A"] * 4, "timestamp": [T0 + timedelta(hours=i) for i in range(4)],
         "open": [r[0] for r in rows], "high": [r[1] for r in rows], "low": [r[2] for r in rows],
         "close": [r[3] for r in rows], "volume": [1e6] * 4}
    )


class EnterOnce:
    def decide(self, context):
        if context.bar_index == 0:
            return [StrategyDecision(action=StrategyAction.ENTER, pair="A")]
        return []


def _run(bars: pl.DataFrame, *, fee_rate: float = 0.0):
    model = EnterOnce()
    runner = BacktestRunner(
        broker=BacktestBroker(executor=VirtualSpotExecutor(fee_rate=fee_rate)),
        entry_rules=[ModelEntryRule(model, base_position_size=1.0)],
        exit_rules=[ModelExitRule(model), TakeProfitStopLossExit(take_profit_pct=0.02, stop_loss_pct=0.01, intrabar=True)],
        initial_capital=10_000.0,
    )
    runner.run(bars, None)
    return runner.result


def test_an_intrabar_take_profit_leaves_no_peak_above_the_equity_it_realised():
    result = _run(_bars((100.0, 150.0, 100.0, 150.0)))  # through the 2% level, closing at +50%
    assert result.trades_df["exit_price"].to_list() == [pytest.approx(102.0)]
    m = result.metrics_df
    assert m["equity"].to_list() == pytest.approx([10_000.0, 10_200.0, 10_200.0, 10_200.0])
    assert m["peak_equity"].to_list() == m["equity"].to_list()
    assert m["max_drawdown"].max() == 0.0 and result.summary["max_drawdown"] == 0.0


def test_an_intrabar_stop_records_the_drawdown_it_realised_not_the_close_it_avoided():
    result = _run(_bars((100.0, 100.0, 50.0, 50.0)))  # through the 1% stop, closing at -50%
    m = result.metrics_df
    assert m["equity"].to_list() == pytest.approx([10_000.0, 9_900.0, 9_900.0, 9_900.0])
    assert m["max_drawdown"].to_list() == pytest.approx([0.0, 0.01, 0.01, 0.01])
    assert m["max_drawdown"][-1] == pytest.approx(result.summary["max_drawdown"])
