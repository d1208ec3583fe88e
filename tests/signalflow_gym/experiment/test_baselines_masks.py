"""The random baseline draws among valid actions only, and valid includes the orders
waiting for the next open: on gapped data with `fill_at="next_open"` nothing is skipped."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from signalflow.data.synthetic import make_synthetic_market
from signalflow.strategy.runner import MarketData
from signalflow_gym.config import EnvConfig
from signalflow_gym.experiment.baselines import RandomActionModel, backtest_model


@pytest.mark.parametrize("mapper", ["per_signal", "simple"])
def test_random_baseline_next_open_with_gaps_never_has_a_decision_skipped(mapper):
    m = make_synthetic_market(seed=5, n_pairs=3, n_bars=300, signal_rate=0.3, volatility=0.006, horizon=10)
    raw = m.raw_data.filter(pl.Series(np.random.default_rng(5).random(m.raw_data.height) > 0.35))
    market = MarketData.build(raw, m.signals.join(raw.select("pair", "timestamp"), on=["pair", "timestamp"], how="semi"))
    config = EnvConfig(actions={"mapper": mapper}, broker={"fill_at": "next_open"}, sizing={"max_positions": 1})
    for seed in range(3):
        result = backtest_model(config, RandomActionModel(config, seed), market)
        assert result.trades_df.height > 0
        assert result.summary["decisions_skipped"] == 0, result.skipped[:3]
