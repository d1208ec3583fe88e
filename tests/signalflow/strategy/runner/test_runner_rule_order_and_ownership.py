"""Regressions from review: intrabar levels act before close-time exits; one broker serves one run."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest

from signalflow.core.errors import RunStateError
from signalflow.strategy.component.exit import TakeProfitStopLossExit
from signalflow.strategy.model import ModelEntryRule, ModelExitRule, StrategyAction, StrategyDecision
from signalflow.strategy.runner import BacktestRunner

T0 = datetime(2024, 1, 1)
# Bar 1 dips to 80 (through a 5% stop of a long entered at 100) and closes back at 101.
BARS = pl.DataFrame(
    [
        ("A", T0, 100.0, 100.0, 100.0, 100.0),
        ("A", T0 + timedelta(hours=1), 100.0, 101.0, 80.0, 101.0),
        ("A", T0 + timedelta(hours=2), 101.0, 101.0, 101.0, 101.0),
    ],
    schema=["pair", "timestamp", "open", "high", "low", "close"],
    orient="row",
)


class EnterThenClose:
    """Enters at bar 0; closes everything at bar 1's close."""

    def decide(self, ctx):
        if ctx.bar_index == 0:
            return [StrategyDecision(action=StrategyAction.ENTER, pair="A")]
        if ctx.bar_index == 1:
            return [StrategyDecision(action=StrategyAction.CLOSE, pair="A", position_id=p.id) for p in ctx.positions]
        return []


@pytest.mark.parametrize("fill_at", ["close", "next_open"])
def test_intrabar_stop_listed_after_model_exit_still_fills_first_at_its_level(fill_at):
    model = EnterThenClose()
    runner = BacktestRunner(
        entry_rules=[ModelEntryRule(model, base_position_size=0.5)],
        exit_rules=[ModelExitRule(model), TakeProfitStopLossExit(0.5, 0.05, intrabar=True)],
        initial_capital=10_000.0,
        fill_at=fill_at,
    )
    runner.run(BARS)
    exits = [(f.bar, f.price, f.reason) for f in runner.broker.fills if not f.is_entry]
    assert exits == [(1, 95.0, "stop_loss")]
    # The model's CLOSE of the stopped position is skipped (already closed), not paid twice.
    assert [s.reason for s in runner.result.skipped] == ["position_id 'pos_000001' is already closed"]


def test_close_based_tp_sl_keeps_the_documented_order_model_first():
    model = EnterThenClose()
    runner = BacktestRunner(
        entry_rules=[ModelEntryRule(model, base_position_size=0.5)],
        exit_rules=[ModelExitRule(model), TakeProfitStopLossExit(0.001, 0.001)],
        initial_capital=10_000.0,
    )
    runner.run(BARS)
    exits = [(f.bar, f.price, f.reason) for f in runner.broker.fills if not f.is_entry]
    assert exits == [(1, 101.0, "model")]


def test_run_refuses_to_continue_after_its_runner_started_another():
    model = EnterThenClose()
    runner = BacktestRunner(entry_rules=[ModelEntryRule(model, base_position_size=0.5)], exit_rules=[ModelExitRule(model)])
    first = runner.start(BARS)
    first.step()
    second = runner.start(BARS)
    with pytest.raises(RunStateError, match="started a newer run, which now owns the broker"):
        first.begin_bar()
    with pytest.raises(RunStateError, match="started a newer run"):
        first.finish()
    assert second.state.portfolio.open_count == 0
    assert second.finish().trades_df.height == 1
