"""`TakeProfitStopLossExit` skips bars before the next level crossing it finds in the close
column; it must exit exactly where a plain per-bar, per-position check does."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signalflow.core.enums import PositionType
from signalflow.strategy.broker import BacktestBroker
from signalflow.strategy.broker.executor import VirtualSpotExecutor
from signalflow.strategy.component.base import ExitRule
from signalflow.strategy.component.exit import TakeProfitStopLossExit
from signalflow.strategy.component.orders import exit_order
from signalflow.strategy.model import ModelEntryRule, StrategyAction, StrategyDecision
from signalflow.strategy.runner import BacktestRunner, MarketData


class PlainTakeProfitStopLoss(ExitRule):
    """The rule's documented semantics, written the slow and obvious way."""

    def __init__(self, take_profit_pct: float, stop_loss_pct: float) -> None:
        self.tp, self.sl = take_profit_pct, stop_loss_pct

    def check_exits(self, context, state):
        orders = []
        for pos in state.portfolio.closable_positions():
            price = context.prices.get(pos.pair)
            if price is None:
                continue
            e = pos.entry_price
            if pos.position_type is PositionType.LONG:
                take, stop = price >= e * (1.0 + self.tp), price <= e * (1.0 - self.sl)
            else:
                take, stop = price <= e * (1.0 - self.tp), price >= e * (1.0 + self.sl)
            if take or stop:
                reason = "take_profit" if take else "stop_loss"
                orders.append(exit_order(pos, bar=context.bar_index, time=context.timestamp, reason=reason))
        return orders


class RandomEntries:
    """Enters long or short on random pairs; the stream depends only on the bar index."""

    def __init__(self, seed: int, rate: float) -> None:
        self.seed, self.rate = seed, rate

    def decide(self, context):
        rng = np.random.default_rng((self.seed, context.bar_index))
        out = []
        for pair in sorted(context.prices):
            if rng.random() < self.rate:
                direction = "long" if rng.random() < 0.5 else "short"
                out.append(StrategyDecision(action=StrategyAction.ENTER, pair=pair, meta={"direction": direction}))
        return out


def _market(seed: int, n_bars: int, n_pairs: int, vol: float, gap_rate: float, zero_volume_rate: float = 0.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    zero_volume = np.random.default_rng((seed, 1)).random((n_pairs, n_bars)) < zero_volume_rate
    rows = []
    start = datetime(2024, 1, 1)
    for j in range(n_pairs):
        close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, vol, n_bars)))
        keep = rng.random(n_bars) >= gap_rate
        keep[0] = True
        for t in np.flatnonzero(keep):
            c = float(close[t])
            volume = 0.0 if zero_volume[j, t] else 1.0
            rows.append((f"P{j}", start + timedelta(minutes=int(t)), c, c * 1.001, c * 0.999, c, volume))
    return pl.DataFrame(
        rows, schema=["pair", "timestamp", "open", "high", "low", "close", "volume"], orient="row"
    ).with_columns(pl.col("timestamp").cast(pl.Datetime("us"))).sort("pair", "timestamp")


def _trades(exit_rule, data, *, seed, fill_at, tp_rule_first=True, executor=None):
    runner = BacktestRunner(
        broker=BacktestBroker(executor=executor or VirtualSpotExecutor(fee_rate=0.001)),
        entry_rules=[ModelEntryRule(RandomEntries(seed, 0.08), base_position_size=0.05, max_positions=12, allow_shorts=True)],
        exit_rules=[exit_rule],
        initial_capital=10_000.0,
        fill_at=fill_at,
    )
    runner.run(data, None)
    return runner.trades_df.drop("meta", strict=False), runner.metrics_df


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    vol=st.sampled_from([0.002, 0.01, 0.03]),
    gap_rate=st.sampled_from([0.0, 0.2]),
    fill_at=st.sampled_from(["close", "next_open"]),
    levels=st.sampled_from([(0.01, 0.01), (0.05, 0.03), (0.002, 0.2)]),
)
def test_tp_sl_scan_matches_plain_per_bar_check(seed, vol, gap_rate, fill_at, levels):
    data = _market(seed, n_bars=400, n_pairs=3, vol=vol, gap_rate=gap_rate)
    fast_trades, fast_metrics = _trades(TakeProfitStopLossExit(*levels), data, seed=seed, fill_at=fill_at)
    plain_trades, plain_metrics = _trades(PlainTakeProfitStopLoss(*levels), data, seed=seed, fill_at=fill_at)
    assert fast_trades.height > 0
    assert fast_trades.equals(plain_trades)
    assert fast_metrics.equals(plain_metrics)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    vol=st.sampled_from([0.01, 0.03]),
    levels=st.sampled_from([(0.01, 0.01), (0.05, 0.03)]),
)
def test_tp_sl_scan_matches_plain_check_when_pending_exits_are_rejected(seed, vol, levels):
    # zero-volume bars under a volume cap reject the orders due at their open: a rejected exit
    # leaves its position open, and the rule must watch it again from the next bar on
    data = _market(seed, n_bars=400, n_pairs=3, vol=vol, gap_rate=0.0, zero_volume_rate=0.15)
    runs = [
        _trades(rule, data, seed=seed, fill_at="next_open", executor=VirtualSpotExecutor(max_volume_participation=1.0))
        for rule in (TakeProfitStopLossExit(*levels), PlainTakeProfitStopLoss(*levels))
    ]
    (fast_trades, fast_metrics), (plain_trades, plain_metrics) = runs
    assert fast_trades.height > 0 and fast_metrics["orders_rejected"][-1] > 0
    assert fast_trades.equals(plain_trades)
    assert fast_metrics.equals(plain_metrics)


def test_tp_sl_with_a_hand_made_context_checks_the_prices_given(bars, scripted):
    """Contexts not built by the runner (other prices than the market's) get the plain check."""
    rule = TakeProfitStopLossExit(take_profit_pct=0.05, stop_loss_pct=0.03)
    runner = BacktestRunner(
        entry_rules=[ModelEntryRule(scripted({0: [StrategyDecision(action=StrategyAction.ENTER, pair="A")]}), base_position_size=0.5)],
        exit_rules=[rule],
        initial_capital=10_000.0,
    )
    run = runner.start(bars({"A": [100.0, 101.0, 102.0]}))
    run.step()
    ctx = run.begin_bar()
    assert rule.check_exits(ctx, run.state) == []
    hand_made = replace(ctx, prices={"A": 106.0})
    orders = rule.check_exits(hand_made, run.state)
    assert [o.reason for o in orders] == ["take_profit"]
    assert rule.check_exits(replace(ctx, prices={"A": 96.0}), run.state)[0].reason == "stop_loss"


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])


def test_tp_sl_rule_shared_by_two_runs_stepped_in_turn(bars):
    """One rule instance, two runners on one market: each run's exits are those it has alone."""

    class Enter:
        def __init__(self, at):
            self.at = at

        def decide(self, ctx):
            return [StrategyDecision(action=StrategyAction.ENTER, pair="A")] if ctx.bar_index in self.at else []

    data = bars({"A": [100.0, 100.0, 106.0, 100.0, 100.0, 100.0, 100.0, 100.0, 106.0, 100.0]})
    market = MarketData.build(data)

    def runners(rule_1, rule_2):
        r1 = BacktestRunner(entry_rules=[ModelEntryRule(Enter({0, 3}), base_position_size=0.5)], exit_rules=[rule_1])
        r2 = BacktestRunner(entry_rules=[ModelEntryRule(Enter({0}), base_position_size=0.2)], exit_rules=[rule_2])
        return r1.start(market), r2.start(market)

    def exits(run):
        return [(p.entry_bar, p.exit_bar, p.exit_reason) for p in run.state.portfolio.positions.values()]

    shared = TakeProfitStopLossExit(take_profit_pct=0.05, stop_loss_pct=0.03)
    run1, run2 = runners(shared, shared)
    alone1, alone2 = runners(TakeProfitStopLossExit(0.05, 0.03), TakeProfitStopLossExit(0.05, 0.03))
    for run in (run1, alone1):
        for _ in range(6):
            run.step()
    for run in (run2, alone2):
        for _ in range(4):
            run.step()
    assert exits(run2) == exits(alone2) == [(0, 2, "take_profit")]
    assert exits(run1) == exits(alone1)


def test_tp_sl_hand_made_context_for_another_state_at_an_earlier_bar(bars):
    """After a run scanned ahead, a context built from the market's own prices at an earlier bar,
    for another state, gets the exits a fresh rule gives (the run's scan is not reused)."""
    from signalflow.strategy.model.context import ModelContext

    class Enter:
        def __init__(self, at):
            self.at = at

        def decide(self, ctx):
            return [StrategyDecision(action=StrategyAction.ENTER, pair="A")] if ctx.bar_index in self.at else []

    market = MarketData.build(bars({"A": [100.0, 100.0, 106.0, 100.0, 100.0, 100.0, 100.0, 100.0, 106.0, 100.0]}))
    rule = TakeProfitStopLossExit(take_profit_pct=0.05, stop_loss_pct=0.03)
    run = BacktestRunner(entry_rules=[ModelEntryRule(Enter({0, 3}), base_position_size=0.5)], exit_rules=[rule]).start(market)
    for _ in range(6):  # an open long from bar 3 at 100: levels (97, 105), next crossing at bar 8
        run.step()
    probe = BacktestRunner(entry_rules=[ModelEntryRule(Enter({0}), base_position_size=0.5)]).start(market)
    probe.step()  # another state holding a long at 100
    ctx = ModelContext(timestamp=market.datetimes[2], signals=market.signals_at(2), prices=market.prices_at(2),
                       positions=probe.state.portfolio.open_positions(), metrics=probe.state.metrics, bar_index=2)
    fresh = TakeProfitStopLossExit(take_profit_pct=0.05, stop_loss_pct=0.03)
    fresh.on_start(market)
    assert [o.reason for o in fresh.check_exits(ctx, probe.state)] == ["take_profit"]
    assert [o.reason for o in rule.check_exits(ctx, probe.state)] == ["take_profit"]
