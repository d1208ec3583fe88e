"""Each baseline has one meaning: the threshold and random baselines give the same trades
whether backtested (`baseline_result`, what evaluate / walk-forward / sweeps use) or rolled
out in the env by `export_episodes` on the same bars; `describe` says what each does."""

from __future__ import annotations

import polars as pl
import pytest

from signalflow.core.errors import ConfigError
from signalflow.data.synthetic import make_synthetic_market
from signalflow.strategy.runner import MarketData
from signalflow_gym.config import EnvConfig
from signalflow_gym.experiment.baselines import (
    BASELINES,
    HoldModel,
    ThresholdModel,
    backtest_model,
    baseline_policy,
    baseline_result,
    describe,
)
from signalflow_gym.experiment.export import export_episodes

TRADE_COLUMNS = ["pair", "position_type", "entry_time", "exit_time", "entry_price", "exit_price", "qty", "fees",
                 "exit_reason"]
ENV = {"episode": {"length": None, "random_start": False}, "exit": {"take_profit_pct": 0.01, "stop_loss_pct": 0.01},
       "sizing": {"max_positions": 2}}


@pytest.fixture(scope="module")
def market_frames():
    m = make_synthetic_market(seed=3, n_pairs=3, n_bars=400, signal_rate=0.1, volatility=0.006, horizon=10)
    return m.raw_data, m.signals


def _trades(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(TRADE_COLUMNS).sort("entry_time", "pair")


@pytest.mark.parametrize("mapper", ["simple", "per_signal"])
@pytest.mark.parametrize("name", ["threshold", "random"])
def test_backtest_and_export_of_a_baseline_make_the_same_trades(tmp_path, market_frames, name, mapper):
    raw, signals = market_frames
    env = {**ENV, "actions": {"mapper": mapper}}
    backtest = baseline_result(name, EnvConfig.from_dict(env), MarketData.build(raw, signals), seed=4, threshold=0.6)
    out = export_episodes(tmp_path / "ds", policy=name, episodes=1, seed=4, data=(raw, signals),
                          config={"env": env, "evaluation": {"threshold": 0.6}})
    exported = pl.read_parquet(out / "episodes" / "00000" / "trades.parquet")
    assert backtest.trades_df.height >= 5
    assert _trades(exported).equals(_trades(backtest.trades_df))
    episode = pl.read_parquet(out / "episodes.parquet").row(0, named=True)
    assert episode["return"] == pytest.approx(backtest.summary["total_return"], rel=1e-12, abs=1e-12)


def test_threshold_enters_at_most_one_signal_a_bar_above_the_threshold(market_frames):
    raw, signals = market_frames
    market = MarketData.build(raw, signals)
    config = EnvConfig.from_dict({**ENV, "sizing": {"max_positions": 3}, "actions": {"mapper": "per_signal"}})
    trades = baseline_result("threshold", config, market, threshold=0.6).trades_df
    assert trades.height > 0
    assert trades.group_by("entry_time").len()["len"].max() == 1
    entered = trades.select("pair", pl.col("entry_time").alias("timestamp")).join(
        signals, on=["pair", "timestamp"], how="left")
    assert entered["probability"].min() > 0.6
    # the older name is the same baseline, bound to the config by backtest_model
    old = backtest_model(config, ThresholdModel(0.6), market).trades_df
    assert _trades(old).equals(_trades(trades))


def test_hold_never_trades_and_buy_and_hold_enters_each_pair_once(market_frames):
    raw, signals = market_frames
    market = MarketData.build(raw, signals)
    hold = baseline_result("hold", EnvConfig(), market)
    assert hold.trades_df.height == 0 and hold.summary["total_return"] == 0.0
    assert backtest_model(EnvConfig(), HoldModel(), market).trades_df.height == 0
    bah = baseline_result("buy_and_hold", EnvConfig(), market)
    assert sorted(bah.trades_df["pair"].to_list()) == sorted(set(raw["pair"].to_list()))


def test_describe_names_every_baseline_and_the_threshold_and_unknown_names_are_refused():
    assert set(BASELINES) == {"hold", "random", "threshold", "buy_and_hold"}
    assert "0.65" in describe("threshold", threshold=0.65)
    assert all(describe(n) and "\n" not in describe(n) for n in BASELINES)
    with pytest.raises(ConfigError, match="unknown baseline 'best'; pick one of hold, random, threshold, buy_and_hold"):
        describe("best")
    with pytest.raises(ConfigError, match="unknown baseline 'buy_and_hold'; pick one of hold, random, threshold"):
        baseline_policy("buy_and_hold", EnvConfig())
