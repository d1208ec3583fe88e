"""Regression: with intrabar TP/SL the environment and `RLTradingModel` see the same observations.

The environment builds bar t's observation when the bar opens; inside a backtest the bridge's
model decides after the intrabar rule has run on that bar, when a position it stopped out is
already closed (its live `last_price` is the stop level). Position features are read from the
context's prices, so both see the bar's close (found by an adversarial probe: 14 of 16 settings
traded differently; position0.pnl -0.10 in the env, -0.01 in the backtest).
"""

from __future__ import annotations

import numpy as np
import pytest

from signalflow.data.synthetic import make_synthetic_market
from signalflow_gym import EnvConfig, SignalFlowEnv
from signalflow_gym.bridge import RLTradingModel


class PnlPolicy:
    """Deterministic and sensitive to position0.pnl: enter when possible, close at -0.2% or +0.4%."""

    def __init__(self, names: list[str]) -> None:
        self.pnl = names.index("position0.pnl")
        self.seen: list[tuple[list[float], list[bool]]] = []

    def __call__(self, obs: np.ndarray, mask: np.ndarray) -> int:
        self.seen.append((obs.tolist(), mask.tolist()))
        pnl = float(obs[self.pnl])
        if mask[2] and (pnl < -0.002 or pnl > 0.004):
            return 2
        return 1 if mask[1] else 0


@pytest.mark.parametrize("fill_at", ["close", "next_open"])
@pytest.mark.parametrize("shorts", [False, True])
def test_env_and_bridge_see_the_same_observations_and_trade_alike_with_intrabar_stops(fill_at, shorts):
    market = make_synthetic_market(seed=11, n_pairs=2, n_bars=600, signal_rate=0.1, volatility=0.006)
    cfg = EnvConfig.from_dict({
        "exit": {"take_profit_pct": 0.01, "stop_loss_pct": 0.004, "intrabar": True},
        "broker": {"fill_at": fill_at},
        "sizing": {"allow_shorts": shorts},
        "actions": {"mapper": "simple"},
        "episode": {"length": None, "random_start": False},
        "termination": {"ruin_fraction": 0.0, "max_drawdown": None},
    })
    env = SignalFlowEnv(market.raw_data, market.signals, config=cfg)
    in_env = PnlPolicy(env.feature_names)
    obs, info = env.reset(seed=0)
    while True:
        obs, _, terminated, truncated, info = env.step(in_env(obs, info["action_mask"]))
        if terminated or truncated:
            break
    episode = env.episode_result()

    in_backtest = PnlPolicy(env.feature_names)
    runner = RLTradingModel(in_backtest, cfg).make_runner()
    runner.run(market.raw_data, market.signals)

    stops = episode.trades_df.filter(episode.trades_df["exit_reason"].is_in(["stop_loss", "take_profit"])).height
    assert stops >= 5  # the case this guards: positions stopped inside bars the policy then decides on
    assert in_env.seen == in_backtest.seen
    assert episode.trades_df.equals(runner.result.trades_df)
    assert episode.metrics_df.equals(runner.result.metrics_df)
