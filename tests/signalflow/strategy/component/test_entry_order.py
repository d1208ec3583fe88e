"""`entry_order` (the sizing helper of custom entry rules) and the broker's answer to orders for
pairs the market does not have."""

from __future__ import annotations

import math

import pytest

from signalflow.core import ConfigError
from signalflow.core.enums import PositionType
from signalflow.strategy.broker import BacktestBroker
from signalflow.strategy.broker.executor import VirtualSpotExecutor
from signalflow.strategy.component import EntryRule
from signalflow.strategy.component.orders import entry_order
from signalflow.strategy.runner import BacktestRunner


class _EnterOnce(EntryRule):
    """Enters `pair` with `fraction` of equity at bar 1."""

    def __init__(self, pair: str, fraction: float = 0.1) -> None:
        self.pair, self.fraction = pair, fraction

    def check_entries(self, context, state):
        if context.bar_index != 1:
            return []
        return [entry_order(state, pair=self.pair, position_type=PositionType.LONG, fraction=self.fraction,
                            bar=context.bar_index, time=context.timestamp, reason="custom")]


def _runner(rule, fill_at):
    return BacktestRunner(
        strategy_id="custom", broker=BacktestBroker(executor=VirtualSpotExecutor(fee_rate=0.0)),
        entry_rules=[rule], exit_rules=[], initial_capital=1_000.0, fill_at=fill_at,
    )


@pytest.mark.parametrize("fill_at", ["close", "next_open"])
def test_an_order_for_a_pair_not_in_the_market_is_rejected_with_the_reason(bars, fill_at):
    runner = _runner(_EnterOnce("ZZZ"), fill_at)
    runner.run(bars({"A": [100.0, 101.0, 102.0, 103.0]}), None)
    (rejected,) = runner.result.rejected
    assert rejected.reason == "pair 'ZZZ' is not in the market data; check the pair's spelling"
    assert not runner.broker.fills and runner.summary["orders_rejected"] == 1
    assert runner.metrics_df["equity"].to_list() == [1_000.0] * 4


@pytest.mark.parametrize("fraction", [0.0, -0.1, math.nan, math.inf, "0.1", True])
def test_entry_order_refuses_a_fraction_that_is_not_a_positive_finite_number(bars, fraction):
    with pytest.raises(ConfigError, match=r"^`fraction` of entry_order must be a finite share of equity > 0"):
        _runner(_EnterOnce("A", fraction), "close").run(bars({"A": [100.0, 101.0, 102.0]}), None)


def test_entry_order_sizes_the_notional_as_the_fraction_of_equity(bars):
    runner = _runner(_EnterOnce("A", 0.5), "close")
    runner.run(bars({"A": [100.0, 101.0, 102.0]}), None)
    (fill,) = runner.broker.fills
    assert fill.qty * fill.price == pytest.approx(500.0, rel=1e-12)
