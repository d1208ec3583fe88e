"""The evaluation pictures: `trades.png` draws each pair's prices with the agent's entries and
exits (one marker each, by side and exit reason)."""

from __future__ import annotations

import polars as pl

from signalflow.data.synthetic import make_synthetic_market
from signalflow.strategy.runner import MarketData
from signalflow_gym import EnvConfig
from signalflow_gym.experiment.baselines import ThresholdModel, backtest_model
from signalflow_gym.experiment.plots import plot_trades


def test_trades_picture_has_one_marker_per_entry_and_exit_on_its_pair(tmp_path):
    synthetic = make_synthetic_market(seed=5, n_pairs=2, n_bars=600, signal_rate=0.05)
    market = MarketData.build(synthetic.raw_data, synthetic.signals)
    config = EnvConfig.from_dict({"sizing": {"allow_shorts": True}, "exit": {"take_profit_pct": 0.01, "stop_loss_pct": 0.01}})
    trades = backtest_model(config, ThresholdModel(0.6), market).trades_df
    assert trades.height > 4 and trades["position_type"].n_unique() == 2
    fig = plot_trades(market, trades, tmp_path / "trades.png", title="t")
    assert (tmp_path / "trades.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for ax, pair in zip(fig.axes, market.pairs):
        mine = trades.filter(pl.col("pair") == pair)
        markers = sum(len(c.get_offsets()) for c in ax.collections)
        assert markers == mine.height + mine["is_closed"].sum()
        assert ax.get_ylabel() == pair
