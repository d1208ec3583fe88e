"""Parity under every cost model and a margin account: a deterministic env episode and a
backtest of `RLTradingModel` give identical trades and per-bar metrics, for PPO and
MaskablePPO.

Each variant also checks that its cost or account rule acted in the episode (a fee that
differs from the proportional one, slippage paid, orders reduced by the volume cap, borrow
paid, liquidations), so parity is not vacuous.
"""

from __future__ import annotations

import pytest
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO

from signalflow_gym import SignalFlowEnv

from tests.signalflow_gym.bridge.test_bridge_parity import _assert_identical, _backtest, _config, _env_episode, _train


COST_VARIANTS = {
    "fixed_fee": {"broker": {"fee_model": "fixed", "fee_fixed": 2.5}},
    "min_fee_per_pair": {"broker": {"fee_minimum": 1.5, "fee_per_pair": {"PAIR1USDT": {"fee_model": "fixed", "fee_fixed": 0.7}}}},
    "half_spread": {"broker": {"slippage_model": "half_spread", "spread_bps": 8}},
    "sqrt_impact_volume_cap": {
        "broker": {"slippage_model": "sqrt_impact", "impact_k": 0.5, "max_volume_participation": 0.004, "fill_at": "next_open"}
    },
    "margin_borrow": {
        "broker": {"account": "margin", "leverage": 3, "borrow_rate": 0.5, "fill_at": "next_open"},
        "sizing": {"allow_shorts": True, "base_position_size": 0.5},
    },
    "margin_liquidation": {
        "broker": {"account": "margin", "leverage": 20, "maintenance_margin": 0.049, "borrow_rate": 2.0, "intrabar_liquidation": True},
        "sizing": {"allow_shorts": True, "base_position_size": 1.0, "max_positions": 30},
        "data": {"volatility": 0.1},  # a wild market, so that liquidations happen within the episode
        "termination": {"ruin_fraction": 0.0},  # the episode runs through its liquidations
    },
}


def _fills(trades) -> list[int]:
    """Fills per trade: entry, plus exit if closed."""
    return [1 + int(closed) for closed in trades["is_closed"].to_list()]


def _acted(variant: str, result, market, fill_at: str) -> None:
    """The variant's cost or account rule changed something in this episode."""
    trades, metrics, summary = result.trades_df, result.metrics_df, result.summary
    if variant == "fixed_fee":
        assert trades["fees"].to_list() == pytest.approx([2.5 * n for n in _fills(trades)])
    elif variant == "min_fee_per_pair":
        for pair, fees, n in zip(trades["pair"].to_list(), trades["fees"].to_list(), _fills(trades)):
            if pair == "PAIR1USDT":
                assert fees == pytest.approx(0.7 * n)
            else:
                assert fees >= 1.5 * n - 1e-9
    elif variant in ("half_spread", "sqrt_impact_volume_cap"):
        prices = market.open if fill_at == "next_open" else market.close
        for row in trades.iter_rows(named=True):
            t, j = market.index_of(row["entry_time"]), market.pair_index[row["pair"]]
            bar_price = float(prices[t, j])
            if row["position_type"] == "long":
                assert row["entry_price"] > bar_price
            else:
                assert row["entry_price"] < bar_price
        if variant == "sqrt_impact_volume_cap":
            assert summary["orders_reduced"] > 0, "the volume cap never bound: raise the size or lower the cap"
    elif variant == "margin_borrow":
        assert summary["borrow_paid"] > 0
        assert metrics["borrow_paid"][-1] == pytest.approx(summary["borrow_paid"])
    elif variant == "margin_liquidation":
        assert summary["liquidations"] > 0, "no liquidation happened: parity of liquidations would be vacuous"
        assert "liquidation" in trades["exit_reason"].to_list()


@pytest.mark.parametrize("algo", [PPO, MaskablePPO], ids=["PPO", "MaskablePPO"])
@pytest.mark.parametrize("variant", sorted(COST_VARIANTS))
def test_bridge_episode_equals_backtest_under_costs_and_margin(variant, algo):
    config = _config(COST_VARIANTS[variant])
    model = _train(algo, config, n_steps=128, batch_size=64)
    env = SignalFlowEnv(config=config)
    episode = _env_episode(env, model, masked=algo is MaskablePPO)
    backtest, _ = _backtest(model, config)
    _assert_identical(episode, backtest)
    _acted(variant, episode, env.market, config.broker.fill_at)
