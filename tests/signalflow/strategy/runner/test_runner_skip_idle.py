"""`skip_idle_bars=True` skips bars with nothing to decide, with identical results."""

from __future__ import annotations

import pytest

from signalflow.strategy.broker import BacktestBroker
from signalflow.strategy.broker.executor import VirtualSpotExecutor
from signalflow.strategy.component.exit import TakeProfitStopLossExit
from signalflow.strategy.model import ModelEntryRule, ModelExitRule, StrategyAction, StrategyDecision
from signalflow.strategy.runner import BacktestRunner


class SignalModel:
    """Acts only on signals and open positions (so idle bars need no decision)."""

    def __init__(self) -> None:
        self.calls = 0

    def decide(self, context):
        self.calls += 1
        out = [StrategyDecision(action=StrategyAction.CLOSE, pair=p.pair, position_id=p.id)
               for p in context.positions if context.bar_index - p.entry_bar >= 6]
        out += [StrategyDecision(action=StrategyAction.ENTER, pair=p, confidence=pr)
                for p, _t, pr in context.signals.ranked() if pr > 0.6]
        return out


def _run(market, *, skip, fill_at):
    model = SignalModel()
    runner = BacktestRunner(
        strategy_id="idle",
        broker=BacktestBroker(executor=VirtualSpotExecutor(fee_rate=0.001)),
        entry_rules=[ModelEntryRule(model=model, base_position_size=0.2, allow_shorts=True)],
        exit_rules=[ModelExitRule(model=model), TakeProfitStopLossExit(0.01, 0.01, intrabar=True)],
        initial_capital=10_000.0,
        fill_at=fill_at,
        skip_idle_bars=skip,
    )
    runner.run(market.raw_data, market.signals)
    return runner, model


@pytest.mark.parametrize("fill_at", ["close", "next_open"])
def test_skip_idle_bars_identical_trades_and_metrics(small_market, fill_at):
    full, full_model = _run(small_market, skip=False, fill_at=fill_at)
    skipping, skip_model = _run(small_market, skip=True, fill_at=fill_at)
    assert skipping.trades_df.equals(full.trades_df)
    assert skipping.metrics_df.equals(full.metrics_df)
    assert skip_model.calls < full_model.calls
