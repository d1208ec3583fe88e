"""The bridge sees the orders queued for the next open exactly as the environment does.

On data with gaps and `fill_at="next_open"`, orders wait across bars; a policy whose
choice depends on the mask then acts identically in an env episode and in a backtest of
`RLTradingModel` only if both masks count those orders the same way.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from signalflow.data.synthetic import make_synthetic_market
from signalflow.strategy.model import context_with_pending
from signalflow.strategy.runner.market_data import MarketData
from signalflow_gym import EnvConfig, SignalFlowEnv
from signalflow_gym.bridge import RLTradingModel

START, LENGTH = 20, 150


def gapped_market() -> MarketData:
    """3 pairs x 200 bars with ~35% of the pair-bars missing and dense signals."""
    m = make_synthetic_market(seed=5, n_pairs=3, n_bars=200, signal_rate=0.3, volatility=0.006, horizon=10)
    keep = np.random.default_rng(5).random(m.raw_data.height) > 0.35
    raw = m.raw_data.filter(pl.Series(keep))
    sigs = m.signals.join(raw.select("pair", "timestamp"), on=["pair", "timestamp"], how="semi")
    return MarketData.build(raw, sigs)


class MaskFollowingPolicy:
    """A deterministic 'policy': a valid non-HOLD action picked from the observation
    (HOLD when none is valid), so its choice depends on the mask it is given."""

    def predict(self, obs, state=None, episode_start=None, deterministic=True, action_masks=None):
        valid = np.flatnonzero(action_masks)
        busy = valid[valid > 0]
        if not busy.size:
            return np.array(0), state
        pick = int(np.floor(np.abs(np.asarray(obs, dtype=np.float64)).sum() * 1e4)) % busy.size
        return np.array(busy[pick]), state


@pytest.mark.parametrize("mapper", ["per_signal", "simple"])
def test_bridge_next_open_with_gaps_episode_equals_backtest(mapper):
    config = EnvConfig.from_dict({"actions": {"mapper": mapper}, "broker": {"fill_at": "next_open"},
                                  "sizing": {"max_positions": 2, "allow_shorts": True}, "episode": {"length": LENGTH}})
    market = gapped_market()
    policy = MaskFollowingPolicy()
    env = SignalFlowEnv(market=market, config=config)
    obs, _ = env.reset(seed=0, options={"start": START, "length": LENGTH})
    pending_states, done = 0, False
    while not done:
        context = context_with_pending(env.run.context, env.run.state.portfolio)
        pending_states += bool(context.pending.entries or context.pending.closing)
        action, _ = policy.predict(obs, action_masks=env.action_masks())
        obs, _, terminated, truncated, _ = env.step(action)
        done = terminated or truncated
    episode = env.episode_result()
    backtest = RLTradingModel(policy, config).backtest(market, start=START, end=START + LENGTH)
    assert pending_states > 0, "no order ever waited across a bar: the test would prove nothing"
    assert episode.trades_df.height > 0
    assert episode.trades_df.equals(backtest.trades_df)
    assert episode.metrics_df.equals(backtest.metrics_df)
    # the masked policy never had a decision skipped, on either side
    assert episode.summary["decisions_skipped"] == backtest.summary["decisions_skipped"] == 0
