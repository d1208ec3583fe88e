"""Hypothesis: random action streams (masked and unmasked) never raise and keep the accounting invariants."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from gymtest_helpers import check_accounting, small_market_data
from signalflow_gym import SignalFlowEnv


CONFIGS = [
    {},
    {"actions": {"mapper": "per_signal"}, "sizing": {"allow_shorts": True, "base_position_size": 0.5}},
    {"actions": {"mapper": "per_signal"}, "broker": {"fill_at": "next_open", "slippage_pct": 0.002},
     "exit": {"take_profit_pct": 0.01, "stop_loss_pct": 0.01, "intrabar": True}, "sizing": {"allow_shorts": True}},
    {"skip_idle_bars": True, "sizing": {"base_position_size": 1.0, "max_positions": 5}, "reward": {"name": "differential_sharpe"}},
]


@lru_cache(maxsize=None)
def env_for(i: int) -> SignalFlowEnv:
    return SignalFlowEnv(market=small_market_data(), config={**CONFIGS[i], "episode": {"length": 120}})


def drive(env: SignalFlowEnv, seed: int, picks: list[int], masked: bool) -> None:
    obs, _ = env.reset(seed=seed)
    assert env.observation_space.contains(obs)
    n = env.action_space.n
    total = 0.0
    for k in range(10_000):
        pick = picks[k % len(picks)]
        if masked:
            valid = np.flatnonzero(env.action_masks())
            action = int(valid[pick % len(valid)])
        else:
            action = pick % n
        obs, reward, terminated, truncated, info = env.step(action)
        assert env.observation_space.contains(obs)
        assert math.isfinite(reward)
        assert not (terminated and truncated)
        check_accounting(env.run.state, env.initial_capital)
        assert math.isclose(info["equity"], env.run.state.portfolio.equity, rel_tol=1e-12, abs_tol=1e-9)
        total += reward
        if terminated or truncated:
            break
    result = env.episode_result()
    trades = result.trades_df
    assert trades["position_id"].n_unique() == trades.height  # no position twice
    if env.config.reward.name == "log_return":
        assert abs(total - math.log(result.metrics_df["equity"][-1] / env.initial_capital)) < 1e-9


@given(config=st.integers(0, len(CONFIGS) - 1), seed=st.integers(0, 2**16), picks=st.lists(st.integers(0, 1_000), min_size=1, max_size=60))
def test_random_unmasked_actions_keep_accounting(config, seed, picks):
    drive(env_for(config), seed, picks, masked=False)


@given(config=st.integers(0, len(CONFIGS) - 1), seed=st.integers(0, 2**16), picks=st.lists(st.integers(0, 1_000), min_size=1, max_size=60))
def test_random_masked_actions_keep_accounting(config, seed, picks):
    drive(env_for(config), seed, picks, masked=True)
