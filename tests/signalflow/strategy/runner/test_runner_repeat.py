"""Runs hold no state across runs: the same runner run twice gives identical results."""

from __future__ import annotations

from signalflow.data.synthetic import make_synthetic_market
from signalflow.strategy.broker import BacktestBroker
from signalflow.strategy.broker.executor import VirtualSpotExecutor
from signalflow.strategy.component.exit import TakeProfitStopLossExit
from signalflow.strategy.exporter import BacktestExporter
from signalflow.strategy.model import ModelEntryRule, ModelExitRule, StrategyAction, StrategyDecision
from signalflow.strategy.runner import BacktestRunner


class SignalModel:
    def decide(self, context):
        return [StrategyDecision(action=StrategyAction.ENTER, pair=p, confidence=pr)
                for p, _t, pr in context.signals.ranked() if pr > 0.6]


def _runner(exporter=None, fill_at="close"):
    model = SignalModel()
    return BacktestRunner(
        strategy_id="repeat",
        broker=BacktestBroker(executor=VirtualSpotExecutor(fee_rate=0.001, slippage_pct=0.0005)),
        entry_rules=[ModelEntryRule(model=model, base_position_size=0.3, allow_shorts=True)],
        exit_rules=[ModelExitRule(model=model), TakeProfitStopLossExit(0.01, 0.01, intrabar=True)],
        initial_capital=10_000.0,
        exporter=exporter,
        fill_at=fill_at,
    )


def _snapshot(runner):
    r = runner.result
    return r.trades_df, r.metrics_df, dict(r.summary), len(r.skipped), len(r.rejected), len(runner.broker.fills)


def _same(a, b):
    assert a[0].equals(b[0]) and a[1].equals(b[1])
    assert a[2:] == b[2:]


def test_runner_same_runner_twice_identical_results(small_market):
    runner = _runner()
    runner.run(small_market.raw_data, small_market.signals)
    first = _snapshot(runner)
    runner.run(small_market.raw_data, small_market.signals)
    _same(first, _snapshot(runner))
    assert first[0].height > 0


def test_runner_next_open_twice_identical_results(small_market):
    runner = _runner(fill_at="next_open")
    runner.run(small_market.raw_data, small_market.signals)
    first = _snapshot(runner)
    runner.run(small_market.raw_data, small_market.signals)
    _same(first, _snapshot(runner))


def test_runner_other_data_in_between_leaves_no_trace(small_market):
    runner = _runner()
    runner.run(small_market.raw_data, small_market.signals)
    first = _snapshot(runner)
    other = make_synthetic_market(seed=11, n_pairs=2, n_bars=150, signal_rate=0.1)
    runner.run(other.raw_data, other.signals)
    runner.run(small_market.raw_data, small_market.signals)
    _same(first, _snapshot(runner))


def test_runner_matches_fresh_runner(small_market):
    reused = _runner()
    reused.run(small_market.raw_data, small_market.signals)
    reused.run(small_market.raw_data, small_market.signals)
    fresh = _runner()
    fresh.run(small_market.raw_data, small_market.signals)
    _same(_snapshot(reused), _snapshot(fresh))


def test_runner_exporter_reset_between_runs(small_market):
    exporter = BacktestExporter()
    runner = _runner(exporter)
    runner.run(small_market.raw_data, small_market.signals)
    bars1, trades1 = exporter.bars_df(), exporter.trades_df()
    runner.run(small_market.raw_data, small_market.signals)
    assert exporter.bars_df().equals(bars1) and exporter.trades_df().equals(trades1)


def test_runner_stepped_run_equals_run(small_market):
    runner = _runner()
    runner.run(small_market.raw_data, small_market.signals)
    via_run = _snapshot(runner)
    run = runner.start(small_market.raw_data, small_market.signals)
    while run.begin_bar() is not None:
        run.end_bar()
    result = run.finish()
    assert result.trades_df.equals(via_run[0]) and result.metrics_df.equals(via_run[1])
    assert result.summary == via_run[2]
