"""Vectorised envs (gymnasium and SB3) and a short MaskablePPO run."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

import signalflow_gym  # noqa: F401  (registers SignalFlow-v0)
from gymtest_helpers import small_synthetic

CONFIG = {"episode": {"length": 50}, "data": {"n_bars": 800}}


def make(config=CONFIG, **kw):
    # "module:id" imports signalflow_gym (and registers the id) in spawned workers too.
    return lambda: gym.make("signalflow_gym:SignalFlow-v0", config=config, **kw)


def test_sync_vector_env_steps_and_autoresets():
    envs = gym.vector.SyncVectorEnv([make() for _ in range(3)])
    obs, info = envs.reset(seed=[1, 2, 3])
    assert obs.shape == (3, envs.single_observation_space.shape[0])
    for _ in range(120):
        obs, rew, term, trunc, info = envs.step(envs.action_space.sample())
        assert np.all(np.isfinite(rew))
    envs.close()


def test_async_vector_env_with_user_data():
    m = small_synthetic()
    envs = gym.vector.AsyncVectorEnv(
        [make({"episode": {"length": 40}}, raw_data=m.raw_data, signals=m.signals) for _ in range(2)],
        context="spawn",  # polars (and torch) are not fork-safe once their thread pools run
    )
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (2, envs.single_observation_space.shape[0])
    ended = np.zeros(2, dtype=bool)
    for _ in range(60):
        obs, rew, term, trunc, info = envs.step(envs.action_space.sample())
        assert np.all(np.isfinite(rew)) and all(envs.single_observation_space.contains(o) for o in obs)
        ended |= term | trunc
    envs.close()
    assert ended.all()  # a 40-bar episode ends within 60 steps in every worker (then autoresets)


def test_sb3_dummy_vec_env_steps():
    venv = DummyVecEnv([make() for _ in range(2)])
    venv.seed(0)
    obs = venv.reset()
    for _ in range(120):
        obs, rew, done, info = venv.step(np.array([venv.action_space.sample() for _ in range(2)]))
    masks = venv.env_method("action_masks")
    assert len(masks) == 2 and masks[0].dtype == bool
    venv.close()


def test_sb3_subproc_vec_env_steps():
    venv = SubprocVecEnv([make() for _ in range(2)], start_method="spawn")
    venv.seed(0)
    obs = venv.reset()
    assert obs.shape == (2, venv.observation_space.shape[0])
    entered = False
    for _ in range(30):
        obs, rew, done, info = venv.step(np.array([0, 1]))  # worker 0 always HOLDs, worker 1 enters when it can
        assert np.all(np.isfinite(rew)) and not done.any()  # 50-bar episodes: no episode ends in 30 steps
        assert info[0]["positions"] == 0 and info[0]["equity"] == 10_000.0 and rew[0] == 0.0
        entered |= info[1]["positions"] > 0
    venv.close()
    assert entered


def test_maskable_ppo_learns_256_steps_without_error():
    from sb3_contrib import MaskablePPO

    env = gym.make("SignalFlow-v0", config={**CONFIG, "actions": {"mapper": "per_signal"}})
    model = MaskablePPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu", verbose=0)
    model.learn(total_timesteps=256)
    obs, _ = env.reset(seed=1)
    action, _ = model.predict(obs, action_masks=env.unwrapped.action_masks(), deterministic=True)
    assert env.action_space.contains(int(action))
