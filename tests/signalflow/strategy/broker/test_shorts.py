"""A "fall" signal never opens a long; with `allow_shorts=True` it opens a short with correct accounting."""

from __future__ import annotations

import pytest

from signalflow.strategy.broker import BacktestBroker
from signalflow.strategy.broker.executor import VirtualSpotExecutor
from signalflow.strategy.component.entry import SignalEntryRule
from signalflow.strategy.model import ModelEntryRule, ModelExitRule, StrategyAction, StrategyDecision
from signalflow.strategy.runner import BacktestRunner

ENTER = StrategyDecision(action=StrategyAction.ENTER, pair="A", confidence=0.9)
CLOSE_ALL = StrategyDecision(action=StrategyAction.CLOSE_ALL, pair="A")


def _model_runner(model, *, allow_shorts):
    return BacktestRunner(
        strategy_id="shorts",
        broker=BacktestBroker(executor=VirtualSpotExecutor(fee_rate=0.001)),
        entry_rules=[ModelEntryRule(model=model, base_position_size=0.5, allow_shorts=allow_shorts)],
        exit_rules=[ModelExitRule(model=model)],
        initial_capital=10_000.0,
    )


def test_model_entry_fall_signal_without_shorts_never_opens_long(bars, sigs, scripted):
    runner = _model_runner(scripted({0: [ENTER]}), allow_shorts=False)
    runner.run(bars({"A": [100.0, 90.0, 80.0]}), sigs([("A", 0, "fall", 0.9)]))
    assert runner.trades_df.height == 0
    assert [s.reason for s in runner.result.skipped] == ["short entry (fall signal) with allow_shorts=False"]


def test_signal_entry_fall_signal_without_shorts_never_opens_long(bars, sigs):
    runner = BacktestRunner(entry_rules=[SignalEntryRule(min_probability=0.5)], initial_capital=10_000.0)
    runner.run(bars({"A": [100.0, 90.0]}), sigs([("A", 0, "fall", 0.9), ("A", 1, "none", 0.9)]))
    assert runner.trades_df.height == 0


def test_signal_entry_fall_signal_with_shorts_opens_short(bars, sigs):
    runner = BacktestRunner(entry_rules=[SignalEntryRule(min_probability=0.5, allow_shorts=True)], initial_capital=10_000.0)
    runner.run(bars({"A": [100.0, 90.0]}), sigs([("A", 0, "fall", 0.9)]))
    assert runner.trades_df["position_type"].to_list() == ["short"]


def test_model_entry_fall_signal_with_shorts_hand_computed_three_bars(bars, sigs, scripted, accounting):
    runner = _model_runner(scripted({0: [ENTER], 2: [CLOSE_ALL]}), allow_shorts=True)
    state = runner.run(bars({"A": [100.0, 90.0, 80.0]}), sigs([("A", 0, "fall", 0.9)]))
    # bar 0: short 50 @ 100 (notional 5_000, fee 5): cash 4_995, value 50 * (200 - 100) = 5_000
    # bar 1: marked at 90: value 50 * 110 = 5_500
    # bar 2: closed at 80: pnl 50 * 20 = 1_000, fee 4 -> cash 4_995 + 5_000 + 1_000 - 4
    m = runner.metrics_df
    assert m["equity"].to_list() == pytest.approx([9_995.0, 10_495.0, 10_991.0], rel=1e-12)
    assert m["cash"].to_list() == pytest.approx([4_995.0, 4_995.0, 10_991.0], rel=1e-12)
    assert m["fees_paid"].to_list() == pytest.approx([5.0, 5.0, 9.0], rel=1e-12)
    assert m["unrealized_pnl"].to_list() == pytest.approx([0.0, 500.0, 0.0], abs=1e-9)
    assert m["realized_pnl"].to_list() == pytest.approx([0.0, 0.0, 1_000.0], abs=1e-9)
    row = runner.trades_df.row(0, named=True)
    assert row["position_type"] == "short"
    assert [row["qty"], row["realized_pnl"], row["fees"], row["net_pnl"]] == pytest.approx([50.0, 1_000.0, 9.0, 991.0])
    accounting(state, 10_000.0)


def test_short_price_rises_loses_and_equity_drops(bars, sigs, scripted, accounting):
    runner = _model_runner(scripted({0: [ENTER], 2: [CLOSE_ALL]}), allow_shorts=True)
    state = runner.run(bars({"A": [100.0, 110.0, 120.0]}), sigs([("A", 0, "fall", 0.9)]))
    # pnl 50 * (100 - 120) = -1_000; fees 5 + 6
    assert runner.trades_df["net_pnl"][0] == pytest.approx(-1_011.0, rel=1e-12)
    assert state.portfolio.cash == pytest.approx(10_000.0 - 1_011.0, rel=1e-12)
    accounting(state, 10_000.0)


def test_meta_direction_short_without_shorts_skipped(bars, scripted):
    enter_short = StrategyDecision(action=StrategyAction.ENTER, pair="A", meta={"direction": "short"})
    runner = _model_runner(scripted({0: [enter_short]}), allow_shorts=False)
    runner.run(bars({"A": [100.0]}), None)
    assert runner.trades_df.height == 0 and runner.summary["decisions_skipped"] == 1
