"""Sizing: `base_position_size` is a fraction of current equity x `size_multiplier`,
converted to a quantity at the fill price; orders beyond the cash are reduced or rejected."""

from __future__ import annotations

import pytest

from signalflow.strategy.broker import BacktestBroker
from signalflow.strategy.broker.executor import VirtualSpotExecutor
from signalflow.strategy.model import ModelEntryRule, StrategyAction, StrategyDecision
from signalflow.strategy.runner import BacktestRunner


def _enter(pair="A", m=1.0):
    return StrategyDecision(action=StrategyAction.ENTER, pair=pair, size_multiplier=m)


def _runner(model, *, base=0.1, fee=0.001, slippage=0.0, fill_at="close", min_notional=1e-8, max_positions=10):
    return BacktestRunner(
        strategy_id="sizing",
        broker=BacktestBroker(executor=VirtualSpotExecutor(fee_rate=fee, slippage_pct=slippage, min_notional=min_notional)),
        entry_rules=[ModelEntryRule(model=model, base_position_size=base, max_positions=max_positions)],
        initial_capital=10_000.0,
        fill_at=fill_at,
    )


def test_sizing_fraction_of_equity_times_multiplier_converted_at_fill_price(bars, scripted):
    runner = _runner(scripted({0: [_enter(m=2.0)]}))
    state = runner.run(bars({"A": [50.0, 50.0]}), None)
    # notional = 0.1 * 2 * 10_000 = 2_000 at 50 -> qty 40, fee 2
    assert runner.trades_df.select("qty", "entry_price", "fees").row(0) == (40.0, 50.0, 2.0)
    assert state.portfolio.cash == 10_000.0 - 2_000.0 - 2.0


def test_sizing_uses_current_equity_not_initial_capital(bars, scripted):
    runner = _runner(scripted({0: [_enter()], 1: [_enter()]}))
    runner.run(bars({"A": [50.0, 60.0]}), None)
    # bar 1 equity = 10_000 - 1_000 - 1 + 20 * 60 = 10_199 -> notional 1_019.9 at 60
    assert runner.trades_df["qty"].to_list() == pytest.approx([20.0, 1_019.9 / 60.0], rel=1e-12)


def test_sizing_with_slippage_qty_is_notional_over_fill_price(bars, scripted):
    runner = _runner(scripted({0: [_enter()]}), slippage=0.002)
    runner.run(bars({"A": [50.0]}), None)
    assert runner.trades_df["qty"][0] == pytest.approx(1_000.0 / (50.0 * 1.002), rel=1e-12)


def test_sizing_order_beyond_cash_reduced_and_counted(bars, scripted):
    runner = _runner(scripted({0: [_enter(m=3.0)]}), base=1.0)
    state = runner.run(bars({"A": [50.0]}), None)
    fill = runner.broker.fills[0]
    assert fill.qty * fill.price + fill.fee <= 10_000.0
    assert fill.qty * fill.price == pytest.approx(10_000.0 / 1.001, rel=1e-9)
    assert state.portfolio.cash >= 0.0
    assert runner.summary["orders_reduced"] == 1 and runner.summary["orders_rejected"] == 0
    assert runner.result.rejected[0].reduced is True


def test_sizing_order_without_cash_rejected_and_counted(bars, scripted):
    runner = _runner(scripted({0: [_enter(m=3.0), _enter(m=1.0)]}), base=1.0, min_notional=1.0)
    state = runner.run(bars({"A": [50.0]}), None)
    assert len(runner.broker.fills) == 1
    assert runner.summary["orders_reduced"] == 1 and runner.summary["orders_rejected"] == 1
    assert runner.result.rejected[1].reason.startswith("not enough cash:")
    assert state.portfolio.cash >= 0.0


def test_sizing_next_open_orders_reduced_at_fill_never_overdrawn(bars, scripted):
    runner = _runner(scripted({0: [_enter("A", 1.0), _enter("B", 1.0)]}), base=0.6, fill_at="next_open")
    state = runner.run(bars({"A": [50.0, 50.0], "B": [20.0, 20.0]}), None)
    assert len(runner.broker.fills) == 2
    assert runner.summary["orders_reduced"] == 1
    assert runner.metrics_df["cash"].min() >= 0.0
    assert state.portfolio.cash >= 0.0


def test_sizing_max_positions_counts_open_and_skips_extra(bars, scripted):
    runner = _runner(scripted({0: [_enter("A"), _enter("A"), _enter("A")]}), max_positions=2)
    runner.run(bars({"A": [50.0]}), None)
    assert runner.trades_df.height == 2
    assert [s.reason for s in runner.result.skipped] == ["max_positions=2 reached"]
