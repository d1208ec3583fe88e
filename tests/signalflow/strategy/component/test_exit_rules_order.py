"""Exit rules run in order and a position closes once, even if a later rule asks again."""

from __future__ import annotations

import pytest

from signalflow.core import OrderSide
from signalflow.core.order import Order
from signalflow.strategy.component.base import ExitRule
from signalflow.strategy.component.exit import TakeProfitStopLossExit
from signalflow.strategy.model import ModelEntryRule, ModelExitRule, StrategyAction, StrategyDecision
from signalflow.strategy.runner import BacktestRunner


class CloseEverythingNaively(ExitRule):
    """A careless user rule: exit orders for every position it saw open at bar start, closable or not."""

    def __init__(self, from_bar: int) -> None:
        self.from_bar = from_bar

    def check_exits(self, context, state):
        if context.bar_index < self.from_bar:
            return []
        return [
            Order(pair=p.pair, side=OrderSide.SELL, position_type=p.position_type, position_id=p.id,
                  reason="naive", created_bar=context.bar_index)
            for p in context.positions
        ]


def _enter_at_0(scripted):
    return scripted({0: [StrategyDecision(action=StrategyAction.ENTER, pair="A")]})


@pytest.mark.parametrize(
    ("fill_at", "path", "from_bar"),
    [("close", [100.0, 110.0, 110.0, 110.0], 1), ("next_open", [100.0, 100.0, 110.0, 110.0], 2)],
)
def test_exit_rules_second_close_of_same_position_rejected_not_paid(bars, scripted, accounting, fill_at, path, from_bar):
    model = _enter_at_0(scripted)
    runner = BacktestRunner(
        entry_rules=[ModelEntryRule(model=model, base_position_size=0.5)],
        exit_rules=[CloseEverythingNaively(from_bar), CloseEverythingNaively(from_bar)],
        initial_capital=10_000.0,
        fill_at=fill_at,
    )
    state = runner.run(bars({"A": path}), None)
    exits = [f for f in runner.broker.fills if not f.is_entry]
    assert len(exits) == 1
    assert runner.summary["orders_rejected"] >= 1
    assert state.portfolio.cash == pytest.approx(state.portfolio.equity)
    # 50 @ 100 (fee 5), out at 110 (fee 5.5): no phantom second credit
    assert state.portfolio.cash == pytest.approx(10_000.0 + 500.0 - 10.5, rel=1e-12)
    accounting(state, 10_000.0)


def test_exit_rules_tp_sl_before_model_closes_first_and_model_close_skipped(bars, scripted):
    def close_it(ctx):
        return [StrategyDecision(action=StrategyAction.CLOSE, pair="A", position_id=p.id) for p in ctx.positions]

    model = scripted({0: [StrategyDecision(action=StrategyAction.ENTER, pair="A")], 1: close_it})
    runner = BacktestRunner(
        entry_rules=[ModelEntryRule(model=model)],
        exit_rules=[TakeProfitStopLossExit(0.05, 0.03), ModelExitRule(model=model)],
        initial_capital=10_000.0,
    )
    runner.run(bars({"A": [100.0, 110.0]}), None)
    assert runner.trades_df["exit_reason"].to_list() == ["take_profit"]
    assert [s.reason for s in runner.result.skipped] == ["position_id 'pos_000001' is already closed"]


def test_exit_rules_intrabar_both_levels_touched_takes_stop_loss(bars, scripted):
    model = _enter_at_0(scripted)
    runner = BacktestRunner(
        entry_rules=[ModelEntryRule(model=model)],
        exit_rules=[TakeProfitStopLossExit(0.05, 0.03, intrabar=True)],
        initial_capital=10_000.0,
    )
    runner.run(bars({"A": [100.0, (100.0, 106.0, 96.0, 101.0)]}), None)
    assert runner.trades_df.select("exit_reason", "exit_price").row(0) == ("stop_loss", pytest.approx(97.0))


def test_exit_rules_intrabar_gap_through_stop_fills_at_open(bars, scripted):
    model = _enter_at_0(scripted)
    runner = BacktestRunner(
        entry_rules=[ModelEntryRule(model=model)],
        exit_rules=[TakeProfitStopLossExit(0.05, 0.03, intrabar=True)],
        initial_capital=10_000.0,
    )
    runner.run(bars({"A": [100.0, (95.0, 96.0, 94.0, 95.5)]}), None)
    assert runner.trades_df.select("exit_reason", "exit_price").row(0) == ("stop_loss", 95.0)


def test_exit_rules_default_checks_close_not_wicks(bars, scripted):
    model = _enter_at_0(scripted)
    runner = BacktestRunner(
        entry_rules=[ModelEntryRule(model=model)],
        exit_rules=[TakeProfitStopLossExit(0.05, 0.03)],
        initial_capital=10_000.0,
    )
    runner.run(bars({"A": [100.0, (100.0, 106.0, 96.0, 101.0)]}), None)
    assert runner.trades_df["is_closed"].to_list() == [False]
