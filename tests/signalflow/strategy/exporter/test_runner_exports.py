"""Runner with `exporter=`: parquet round trip, fixed schemas, last bar's trades recorded."""

from __future__ import annotations

import polars as pl
import pytest

from signalflow.core import ExportError
from signalflow.strategy.broker import BacktestBroker
from signalflow.strategy.broker.executor import VirtualSpotExecutor
from signalflow.strategy.component.exit import TakeProfitStopLossExit
from signalflow.strategy.exporter import BARS_SCHEMA, TRADES_SCHEMA, BacktestExporter
from signalflow.strategy.metrics import METRIC_NAMES
from signalflow.strategy.model import ModelEntryRule, ModelExitRule, StrategyAction, StrategyDecision
from signalflow.strategy.runner import BacktestRunner

METRICS_SCHEMA = pl.Schema([("timestamp", pl.Datetime("us")), *((n, pl.Float64()) for n in METRIC_NAMES)])


class SignalModel:
    def decide(self, context):
        return [StrategyDecision(action=StrategyAction.ENTER, pair=p, confidence=pr)
                for p, _t, pr in context.signals.ranked() if pr > 0.6]


def _runner(model, exporter=None, *, tp_sl=True):
    exits = [ModelExitRule(model=model)]
    if tp_sl:
        exits.append(TakeProfitStopLossExit(take_profit_pct=0.01, stop_loss_pct=0.01))
    return BacktestRunner(
        strategy_id="export",
        broker=BacktestBroker(executor=VirtualSpotExecutor(fee_rate=0.001)),
        entry_rules=[ModelEntryRule(model=model, base_position_size=0.1)],
        exit_rules=exits,
        initial_capital=10_000.0,
        exporter=exporter,
    )


def test_runner_exporter_finalize_round_trips_with_polars(small_market, tmp_path):
    exporter = BacktestExporter()
    runner = _runner(SignalModel(), exporter)
    runner.run(small_market.raw_data, small_market.signals)
    paths = exporter.finalize(tmp_path / "out")
    bars, trades = pl.read_parquet(paths["bars"]), pl.read_parquet(paths["trades"])
    assert bars.equals(exporter.bars_df()) and trades.equals(exporter.trades_df())
    assert bars.schema == BARS_SCHEMA and trades.schema == TRADES_SCHEMA
    n_bars = runner.metrics_df.height
    n_signal_bars = small_market.signals["timestamp"].n_unique()
    assert bars.height == n_bars - n_signal_bars + small_market.signals.height
    closed = runner.trades_df.filter(pl.col("is_closed")).drop("bars_held")
    assert closed.height > 0
    assert trades.drop("bars_held").sort("position_id").equals(closed.sort("position_id"))


def test_runner_exporter_bar_metrics_match_metrics_df(small_market, tmp_path):
    exporter = BacktestExporter()
    runner = _runner(SignalModel(), exporter)
    runner.run(small_market.raw_data, small_market.signals)
    per_bar = exporter.bars_df().unique("timestamp", keep="first", maintain_order=True)
    expected = runner.metrics_df.rename({n: f"metric_{n}" for n in METRIC_NAMES})
    assert per_bar.select(expected.columns).equals(expected)


def test_runner_exporter_no_trades_same_schema(small_market, tmp_path):
    exporter = BacktestExporter()
    runner = _runner(SignalModel(), exporter)
    runner.run(small_market.raw_data, None)
    paths = exporter.finalize(tmp_path / "empty")
    trades = pl.read_parquet(paths["trades"])
    assert trades.height == 0 and trades.schema == TRADES_SCHEMA
    assert pl.read_parquet(paths["bars"]).schema == BARS_SCHEMA
    assert runner.trades_df.schema == TRADES_SCHEMA
    assert runner.metrics_df.schema == METRICS_SCHEMA


def test_runner_trades_and_metrics_schema_fixed_when_trading(small_market):
    runner = _runner(SignalModel())
    runner.run(small_market.raw_data, small_market.signals)
    assert runner.trades_df.height > 0
    assert runner.trades_df.schema == TRADES_SCHEMA
    assert runner.metrics_df.schema == METRICS_SCHEMA


def test_runner_metrics_last_row_has_last_bar_entry(bars, scripted):
    model = scripted({2: [StrategyDecision(action=StrategyAction.ENTER, pair="A")]})
    exporter = BacktestExporter()
    runner = _runner(model, exporter, tp_sl=False)
    runner.run(bars({"A": [100.0, 100.0, 100.0]}), None)
    last = runner.metrics_df.row(-1, named=True)
    assert (last["open_positions"], last["orders_filled"], last["fees_paid"]) == (1.0, 1.0, pytest.approx(1.0))
    assert last["cash"] == pytest.approx(10_000.0 - 1_000.0 - 1.0)
    assert exporter.bars_df()["metric_open_positions"].to_list() == [0.0, 0.0, 1.0]


def test_runner_metrics_last_row_has_last_bar_close(bars, scripted):
    close_all = StrategyDecision(action=StrategyAction.CLOSE_ALL, pair="A")
    model = scripted({0: [StrategyDecision(action=StrategyAction.ENTER, pair="A")], 2: [close_all]})
    exporter = BacktestExporter()
    runner = _runner(model, exporter, tp_sl=False)
    runner.run(bars({"A": [100.0, 100.0, 110.0]}), None)
    last = runner.metrics_df.row(-1, named=True)
    assert (last["open_positions"], last["trades_closed"], last["realized_pnl"]) == (0.0, 1.0, pytest.approx(100.0))
    assert exporter.trades_df()["exit_reason"].to_list() == ["model_close_all"]


def test_runner_exporter_finalize_crash_leaves_no_partial_file(small_market, tmp_path, monkeypatch):
    exporter = BacktestExporter()
    runner = _runner(SignalModel(), exporter)
    runner.run(small_market.raw_data, small_market.signals)
    real_write = pl.DataFrame.write_parquet
    calls = []

    def failing_second_write(self, file, *args, **kwargs):
        calls.append(file)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_write(self, file, *args, **kwargs)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", failing_second_write)
    out = tmp_path / "crash"
    with pytest.raises(ExportError, match="disk full"):
        exporter.finalize(out)
    assert sorted(p.name for p in out.iterdir()) == []
