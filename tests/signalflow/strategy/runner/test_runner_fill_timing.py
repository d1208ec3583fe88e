"""`fill_at="next_open"`: orders decided at bar t fill at the open of the pair's next bar;
orders decided on the last bar are reported, not dropped."""

from __future__ import annotations

import pytest

from signalflow.core import OrderSide, PositionType
from signalflow.strategy.broker import BacktestBroker
from signalflow.strategy.broker.executor import VirtualSpotExecutor
from signalflow.strategy.model import ModelEntryRule, ModelExitRule, StrategyAction, StrategyDecision
from signalflow.strategy.runner import BacktestRunner

ENTER_A = StrategyDecision(action=StrategyAction.ENTER, pair="A")
ENTER_B = StrategyDecision(action=StrategyAction.ENTER, pair="B")
PRICES = {"A": [(100.0, 101.0, 99.0, 100.0), (102.0, 104.0, 101.0, 103.0), (105.0, 106.0, 104.0, 105.0)]}


def _runner(model, *, slippage=0.0, fill_at="next_open", base=0.1):
    return BacktestRunner(
        strategy_id="fill",
        broker=BacktestBroker(executor=VirtualSpotExecutor(fee_rate=0.001, slippage_pct=slippage)),
        entry_rules=[ModelEntryRule(model=model, base_position_size=base)],
        exit_rules=[ModelExitRule(model=model)],
        initial_capital=10_000.0,
        fill_at=fill_at,
    )


def test_next_open_entry_decided_at_t_fills_at_open_of_t_plus_1(bars, scripted, at):
    runner = _runner(scripted({0: [ENTER_A]}))
    runner.run(bars(PRICES), None)
    row = runner.trades_df.row(0, named=True)
    assert (row["entry_price"], row["entry_time"]) == (102.0, at(1))
    assert row["qty"] == pytest.approx(0.1 * 10_000.0 / 102.0, rel=1e-12)  # notional fixed at bar 0's equity
    assert runner.metrics_df["open_positions"].to_list() == [0.0, 1.0, 1.0]


def test_next_open_entry_with_slippage_fills_at_adjusted_open(bars, scripted):
    runner = _runner(scripted({0: [ENTER_A]}), slippage=0.01)
    runner.run(bars(PRICES), None)
    (fill,) = runner.broker.fills
    assert fill.price == pytest.approx(102.0 * 1.01, rel=1e-15)
    assert fill.qty == pytest.approx(1_000.0 / (102.0 * 1.01), rel=1e-12)
    assert fill.fee == pytest.approx(0.001 * fill.qty * fill.price, rel=1e-15)


def test_next_open_exit_decided_at_t_fills_at_open_of_t_plus_1_with_sell_slippage(bars, scripted):
    close = lambda ctx: [StrategyDecision(action=StrategyAction.CLOSE, pair="A", position_id=ctx.positions[0].id)]
    runner = _runner(scripted({0: [ENTER_A], 1: close}), slippage=0.01)
    runner.run(bars(PRICES), None)
    exit_fill = runner.broker.fills[1]
    assert (exit_fill.is_entry, exit_fill.side, exit_fill.bar) == (False, OrderSide.SELL, 2)
    assert exit_fill.price == pytest.approx(105.0 * 0.99, rel=1e-15)


def test_close_mode_entry_fills_at_bar_close(bars, scripted, at):
    runner = _runner(scripted({0: [ENTER_A]}), fill_at="close")
    runner.run(bars(PRICES), None)
    assert runner.trades_df.select("entry_price", "entry_time").row(0) == (100.0, at(0))


def test_next_open_pair_without_next_bar_fills_at_its_next_bar_open(bars, scripted, at):
    prices = {**PRICES, "B": [(50.0, 50.0, 50.0, 50.0), None, (52.0, 53.0, 51.0, 52.5)]}
    runner = _runner(scripted({0: [ENTER_B]}))
    runner.run(bars(prices), None)
    assert runner.trades_df.select("pair", "entry_price", "entry_time").row(0) == ("B", 52.0, at(2))


def test_next_open_entry_on_last_bar_reported_as_pending_not_dropped(bars, scripted):
    runner = _runner(scripted({2: [ENTER_A]}))
    runner.run(bars(PRICES), None)
    result = runner.result
    assert runner.trades_df.height == 0
    assert [(o.pair, o.position_id, o.created_bar, o.position_type) for o in result.pending_orders] == [
        ("A", None, 2, PositionType.LONG)
    ]
    assert result.pending_orders[0].notional == pytest.approx(1_000.0)
    assert runner.summary["orders_unfilled"] == 1


def test_next_open_exit_on_last_bar_reported_and_position_stays_open(bars, scripted):
    close = lambda ctx: [StrategyDecision(action=StrategyAction.CLOSE, pair="A", position_id=ctx.positions[0].id)]
    runner = _runner(scripted({0: [ENTER_A], 2: close}))
    runner.run(bars(PRICES), None)
    assert [o.position_id for o in runner.result.pending_orders] == ["pos_000001"]
    assert runner.summary["orders_unfilled"] == 1
    assert runner.trades_df["is_closed"].to_list() == [False]


def test_close_mode_last_bar_entry_fills_and_nothing_pending(bars, scripted):
    runner = _runner(scripted({2: [ENTER_A]}), fill_at="close")
    runner.run(bars(PRICES), None)
    assert runner.result.pending_orders == []
    assert runner.summary["orders_unfilled"] == 0
    assert runner.trades_df.height == 1
