"""Buy-and-hold runs through the backtester and matches an independent numpy recomputation
(equal share per pair at its first bar, one entry fee, held to the end)."""

from __future__ import annotations

import numpy as np
import pytest

from signalflow.data.synthetic import make_synthetic_market
from signalflow.strategy.runner import MarketData
from signalflow_gym.config import EnvConfig
from signalflow_gym.experiment.baselines import buy_and_hold


def _numpy_buy_and_hold(market: MarketData, capital: float, fee_rate: float) -> np.ndarray:
    mark = market.mark
    n_p = mark.shape[1]
    share = capital / n_p
    first = np.argmax(np.isfinite(mark), axis=0)
    price0 = mark[first, np.arange(n_p)]
    qty = share / (1.0 + fee_rate) / price0
    held = np.isfinite(mark)
    return np.where(held, qty[None, :] * np.nan_to_num(mark), share).sum(axis=1)


@pytest.mark.parametrize("fee_rate", [0.0, 0.001])
def test_buy_and_hold_through_the_backtester_matches_the_numpy_formula(fee_rate):
    synthetic = make_synthetic_market(seed=4, n_pairs=3, n_bars=400, signal_rate=0.05)
    market = MarketData.build(synthetic.raw_data, synthetic.signals)
    config = EnvConfig(broker={"fee_rate": fee_rate})
    result = buy_and_hold(market, config)
    expected = _numpy_buy_and_hold(market, config.broker.initial_capital, fee_rate)
    np.testing.assert_allclose(result.metrics_df["equity"].to_numpy(), expected, rtol=1e-9, atol=0)
    assert result.trades_df.height == 3 and not result.trades_df["is_closed"].any()
    assert result.summary["fees"] == pytest.approx(config.broker.initial_capital * (1 - 1 / (1 + fee_rate)), rel=1e-9)


def test_buy_and_hold_enters_a_late_pair_at_its_first_bar():
    import polars as pl
    from datetime import datetime, timedelta

    t0 = datetime(2024, 1, 1)
    rows = [("A", i, 100.0 + i) for i in range(6)] + [("B", i, 50.0) for i in range(3, 6)]
    bars = pl.DataFrame({"pair": [r[0] for r in rows], "timestamp": [t0 + timedelta(minutes=r[1]) for r in rows],
                         "open": [r[2] for r in rows], "high": [r[2] for r in rows], "low": [r[2] for r in rows],
                         "close": [r[2] for r in rows]})
    result = buy_and_hold(MarketData.build(bars), EnvConfig(broker={"fee_rate": 0.0}))
    trades = result.trades_df.sort("pair")
    assert trades["pair"].to_list() == ["A", "B"]
    assert trades["entry_time"].to_list() == [t0, t0 + timedelta(minutes=3)]
