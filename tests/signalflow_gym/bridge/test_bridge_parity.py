"""Parity: a deterministic env episode and a backtest of `RLTradingModel` give identical trades and equity.

The environment side is driven the way SB3 users drive it (predict on the
observation, `env.action_masks()` for MaskablePPO, LSTM state and
`episode_start` for RecurrentPPO, `VecNormalize.normalize_obs` for
normalisation); the backtest side only uses the bridge. Exact equality of
`trades_df` and `metrics_df` is required.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sb3_contrib import MaskablePPO, RecurrentPPO
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from signalflow_gym import EnvConfig, SignalFlowEnv
from signalflow_gym.bridge import RLTradingModel

START, LENGTH = 600, 400

BASE = {
    "episode": {"length": LENGTH},
    "actions": {"mapper": "per_signal"},
    "data": {"n_bars": 2000, "signal_rate": 0.08, "seed": 3},
}

VARIANTS = {
    "close": {},
    "next_open": {"broker": {"fill_at": "next_open"}},
    "skip_idle_bars": {"skip_idle_bars": True},
    "tp_sl_fallback": {"exit": {"take_profit_pct": 0.01, "stop_loss_pct": 0.005}},
    "tp_sl_intrabar": {"exit": {"take_profit_pct": 0.01, "stop_loss_pct": 0.005, "intrabar": True}},
    "allow_shorts": {"sizing": {"allow_shorts": True}},
    "simple_mapper": {"actions": {"mapper": "simple"}},
}


def _config(overrides: dict) -> EnvConfig:
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in BASE.items()}
    for key, value in overrides.items():
        if isinstance(value, dict):
            data.setdefault(key, {}).update(value)
        else:
            data[key] = value
    return EnvConfig.from_dict(data)


def _busy(prev_metrics, metrics) -> float:
    """Training reward: +1 per filled order. A policy trained on it trades often, so parity is not vacuous."""
    return float(metrics["orders_filled"] - prev_metrics["orders_filled"])


def _train(algo, config_or_env, **kwargs):
    """A tiny SB3 model (1,024 steps, fixed seeds, one torch thread)."""
    torch.set_num_threads(1)
    env = config_or_env
    if isinstance(config_or_env, EnvConfig):
        env = SignalFlowEnv(config=config_or_env, reward_fn=_busy)
    model = algo("MlpPolicy" if algo is not RecurrentPPO else "MlpLstmPolicy", env, seed=0, verbose=0, **kwargs)
    model.learn(1024)
    return model


def _env_episode(env: SignalFlowEnv, model, *, normalize=None, masked=False, recurrent=False):
    obs, _ = env.reset(seed=0, options={"start": START, "length": LENGTH})
    state, first = None, True
    done = False
    while not done:
        x = normalize(obs) if normalize is not None else obs
        if recurrent:
            action, state = model.predict(x, state=state, episode_start=np.array([first]), deterministic=True)
            first = False
        elif masked:
            action, _ = model.predict(x, deterministic=True, action_masks=env.action_masks())
        else:
            action, _ = model.predict(x, deterministic=True)
        obs, _, terminated, truncated, _ = env.step(action)
        done = terminated or truncated
    return env.episode_result()


def _backtest(model, config, normalizer=None):
    bridge = RLTradingModel(model, config, normalizer=normalizer)
    env_market = SignalFlowEnv(config=config).market
    return bridge.backtest(env_market, start=START, end=START + LENGTH), bridge


def _assert_identical(episode, backtest):
    assert episode.trades_df.height > 0, "the policy never traded: parity would be vacuous"
    assert episode.trades_df.equals(backtest.trades_df)
    assert episode.metrics_df.equals(backtest.metrics_df)
    assert episode.metrics_df["equity"].to_list() == backtest.metrics_df["equity"].to_list()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_bridge_ppo_variant_episode_equals_backtest(variant):
    config = _config(VARIANTS[variant])
    model = _train(PPO, config, n_steps=128, batch_size=64)
    episode = _env_episode(SignalFlowEnv(config=config), model)
    backtest, _ = _backtest(model, config)
    _assert_identical(episode, backtest)
    if variant == "allow_shorts":
        assert "short" in episode.trades_df["position_type"].to_list()


@pytest.mark.parametrize("algo", [A2C, DQN], ids=["A2C", "DQN"])
def test_bridge_other_algorithms_episode_equals_backtest(algo):
    config = _config({})
    kwargs = {"n_steps": 32} if algo is A2C else {"learning_starts": 64, "exploration_fraction": 0.5, "target_update_interval": 100, "learning_rate": 1e-3}
    model = _train(algo, config, **kwargs)
    episode = _env_episode(SignalFlowEnv(config=config), model)
    backtest, _ = _backtest(model, config)
    _assert_identical(episode, backtest)


def test_bridge_maskable_ppo_episode_equals_backtest():
    config = _config({})
    model = _train(MaskablePPO, config, n_steps=128, batch_size=64)
    episode = _env_episode(SignalFlowEnv(config=config), model, masked=True)
    backtest, _ = _backtest(model, config)
    _assert_identical(episode, backtest)


def test_bridge_recurrent_ppo_episode_equals_backtest():
    config = _config({})
    model = _train(RecurrentPPO, config, n_steps=128, batch_size=64)
    episode = _env_episode(SignalFlowEnv(config=config), model, recurrent=True)
    backtest, _ = _backtest(model, config)
    _assert_identical(episode, backtest)


def test_bridge_vecnormalize_episode_equals_backtest():
    config = _config({})
    venv = VecNormalize(DummyVecEnv([lambda: SignalFlowEnv(config=config, reward_fn=_busy)]), norm_reward=False)
    model = _train(PPO, venv, n_steps=128, batch_size=64)
    venv.training = False
    env = SignalFlowEnv(config=config)
    episode = _env_episode(env, model, normalize=venv.normalize_obs)
    backtest, _ = _backtest(model, config, normalizer=venv)
    _assert_identical(episode, backtest)
    assert not np.allclose(venv.obs_rms.mean, 0.0), "VecNormalize statistics were not learned"


def test_bridge_model_called_once_per_bar_and_never_sees_the_future():
    config = _config({})
    env = SignalFlowEnv(config=config)
    model = _train(PPO, config, n_steps=128, batch_size=64)
    seen: list = []

    class Spy(RLTradingModel):
        def decide(self, context):
            seen.append((context.bar_index, context.timestamp))
            for pos in context.positions:
                assert pos.entry_time <= context.timestamp
            return super().decide(context)

    spy = Spy(model, config)
    runner = spy.make_runner()
    runner.run(env.market, start=START, end=START + LENGTH)
    bars = [b for b, _ in seen]
    assert bars == list(range(START, START + LENGTH))
    assert spy.calls == LENGTH
    assert runner.summary["model_calls"] == LENGTH
    last_seen = max(ts for _, ts in seen)
    assert last_seen == env.market.datetimes[START + LENGTH - 1]


def test_bridge_epsilon_explores_only_valid_actions_and_is_seeded():
    config = _config({})
    env = SignalFlowEnv(config=config)
    model = _train(PPO, config, n_steps=128, batch_size=64)
    a = RLTradingModel(model, config, epsilon=0.5, seed=7).backtest(env.market, start=START, end=START + LENGTH)
    b = RLTradingModel(model, config, epsilon=0.5, seed=7).backtest(env.market, start=START, end=START + LENGTH)
    c = RLTradingModel(model, config, epsilon=0.5, seed=8).backtest(env.market, start=START, end=START + LENGTH)
    assert a.trades_df.equals(b.trades_df)
    assert not a.trades_df.equals(c.trades_df)
    # Random actions are drawn among valid ones only: nothing is ever skipped for being invalid.
    assert a.summary["decisions_skipped"] == 0
