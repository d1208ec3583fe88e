"""No look-ahead: what is recorded up to bar t depends only on bars and signals up to t."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from signalflow.strategy.broker import BacktestBroker
from signalflow.strategy.broker.executor import VirtualSpotExecutor
from signalflow.strategy.component.exit import TakeProfitStopLossExit
from signalflow.strategy.model import ModelEntryRule, ModelExitRule, StrategyAction, StrategyDecision
from signalflow.strategy.runner import BacktestRunner

CUT = 200  # bars 0..CUT are kept, later bars are rewritten


class HoldingModel:
    """Enters on signals with probability > 0.6 (shorts on "fall"); closes after 7 bars.

    Records what it saw at every call (timestamp, signal rows, prices, metrics, positions).
    """

    def __init__(self) -> None:
        self.seen: list[tuple] = []

    def decide(self, context):
        self.seen.append((
            context.bar_index,
            context.timestamp,
            context.signals.value.rows(),
            dict(context.prices),
            dict(context.metrics),
            [(p.id, p.qty, p.entry_price, p.last_price) for p in context.positions],
        ))
        out = [
            StrategyDecision(action=StrategyAction.CLOSE, pair=p.pair, position_id=p.id)
            for p in context.positions
            if context.bar_index - p.entry_bar >= 7
        ]
        for pair, _type, prob in context.signals.ranked():
            if prob > 0.6:
                out.append(StrategyDecision(action=StrategyAction.ENTER, pair=pair, confidence=prob))
        return out


def _run(raw, signals, fill_at):
    model = HoldingModel()
    runner = BacktestRunner(
        strategy_id="lookahead",
        broker=BacktestBroker(executor=VirtualSpotExecutor(fee_rate=0.001, slippage_pct=0.0005)),
        entry_rules=[ModelEntryRule(model=model, base_position_size=0.2, max_positions=4, allow_shorts=True)],
        exit_rules=[ModelExitRule(model=model), TakeProfitStopLossExit(0.01, 0.008, intrabar=True)],
        initial_capital=10_000.0,
        fill_at=fill_at,
    )
    runner.run(raw, signals)
    return runner, model


def _rewrite_future(market, cut_ts):
    """Scale every bar after `cut_ts` by a random factor; flip/reprice/drop later signals."""
    rng = np.random.default_rng(99)
    raw = market.raw_data
    factor = pl.Series(rng.uniform(0.7, 1.4, raw.height))
    later = pl.col("timestamp") > cut_ts
    raw2 = raw.with_columns(
        [pl.when(later).then(pl.col(c) * factor).otherwise(pl.col(c)).alias(c) for c in ("open", "high", "low", "close")]
    )
    sig = market.signals
    early, late = sig.filter(pl.col("timestamp") <= cut_ts), sig.filter(pl.col("timestamp") > cut_ts)
    late = late.with_columns(
        pl.when(pl.col("signal_type") == "rise").then(pl.lit("fall")).otherwise(pl.lit("rise")).alias("signal_type"),
        (1.0 - pl.col("probability") * 0.5).alias("probability"),
    ).sample(fraction=0.7, seed=1)
    extra = raw2.filter(later).sample(n=30, seed=2).select(
        "pair", "timestamp", pl.lit("rise").alias("signal_type"), pl.lit(0.95).alias("probability")
    )
    sig2 = pl.concat([early, late, extra]).sort("timestamp", "pair")
    assert not raw2.equals(raw) and not sig2.equals(sig)
    return raw2, sig2


@pytest.fixture(scope="module")
def cut_ts(small_market):
    return small_market.raw_data["timestamp"].unique().sort()[CUT]


@pytest.mark.parametrize("fill_at", ["close", "next_open"])
def test_runner_future_bars_changed_metrics_up_to_t_identical(small_market, cut_ts, fill_at):
    base, _ = _run(small_market.raw_data, small_market.signals, fill_at)
    changed, _ = _run(*_rewrite_future(small_market, cut_ts), fill_at)
    upto = pl.col("timestamp") <= cut_ts
    a, b = base.metrics_df.filter(upto), changed.metrics_df.filter(upto)
    assert a.height == CUT + 1
    assert a.equals(b)
    assert not base.metrics_df.equals(changed.metrics_df)  # the rewrite does change later bars


@pytest.mark.parametrize("fill_at", ["close", "next_open"])
def test_runner_future_bars_changed_trades_up_to_t_identical(small_market, cut_ts, fill_at):
    base, _ = _run(small_market.raw_data, small_market.signals, fill_at)
    changed, _ = _run(*_rewrite_future(small_market, cut_ts), fill_at)
    entry_cols = ["position_id", "pair", "position_type", "entry_time", "entry_price", "qty"]
    exit_cols = [*entry_cols, "exit_time", "exit_price", "realized_pnl", "fees", "exit_reason"]
    opened = pl.col("entry_time") <= cut_ts
    closed = pl.col("is_closed") & (pl.col("exit_time") <= cut_ts)
    assert base.trades_df.filter(opened).height > 5
    assert base.trades_df.filter(opened).select(entry_cols).equals(changed.trades_df.filter(opened).select(entry_cols))
    assert base.trades_df.filter(closed).select(exit_cols).equals(changed.trades_df.filter(closed).select(exit_cols))


@pytest.mark.parametrize("fill_at", ["close", "next_open"])
def test_runner_future_bars_changed_model_inputs_up_to_t_identical(small_market, cut_ts, fill_at):
    _, base = _run(small_market.raw_data, small_market.signals, fill_at)
    _, changed = _run(*_rewrite_future(small_market, cut_ts), fill_at)
    assert base.seen[: CUT + 1] == changed.seen[: CUT + 1]


@pytest.mark.parametrize("fill_at", ["close", "next_open"])
def test_runner_model_called_once_per_bar_never_sees_later_timestamp(small_market, fill_at):
    runner, model = _run(small_market.raw_data, small_market.signals, fill_at)
    axis = small_market.raw_data["timestamp"].unique().sort().to_list()
    assert [s[0] for s in model.seen] == list(range(len(axis)))
    assert [s[1] for s in model.seen] == axis
    assert runner.summary["model_calls"] == len(axis)
    for bar, ts, rows, *_ in model.seen:
        assert all(r[1] == ts for r in rows)


def test_runner_context_prices_are_this_bar_close_only(small_market):
    _, model = _run(small_market.raw_data, small_market.signals, "close")
    closes = {(r[0], r[1]): r[2] for r in small_market.raw_data.select("pair", "timestamp", "close").rows()}
    for _bar, ts, _rows, prices, *_ in model.seen[:50]:
        assert prices == {pair: closes[(pair, ts)] for pair in prices}
        assert len(prices) == 3


def test_runner_context_metrics_are_pre_trade_state_of_the_bar(small_market):
    runner, model = _run(small_market.raw_data, small_market.signals, "close")
    m = runner.metrics_df
    for bar, _ts, _rows, _prices, metrics, positions in model.seen[1:60]:
        # pre-trade metrics at bar t: previous bar's post-trade cash, positions marked at t
        assert metrics["cash"] == m["cash"][bar - 1]
        assert metrics["open_positions"] == len(positions) == m["open_positions"][bar - 1]


def test_runner_retained_context_metrics_stay_pre_trade_snapshot(bars, scripted):
    enter = StrategyDecision(action=StrategyAction.ENTER, pair="A")
    model = scripted({0: [enter], 1: [enter]})
    runner = BacktestRunner(entry_rules=[ModelEntryRule(model=model, base_position_size=0.5)], initial_capital=10_000.0)
    runner.run(bars({"A": [100.0, 110.0, 120.0]}), None)
    # read after the run: each bar's context still holds that bar's marked, pre-trade state
    got = [(c.metrics["equity"], c.metrics["open_positions"]) for c in model.calls]
    assert got == [(10_000.0, 0), (10_495.0, 1), (pytest.approx(runner.metrics_df["equity"][2]), 2)]
