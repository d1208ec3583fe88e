"""Both env checkers pass with zero warnings: default config, every shipped config, both mappers."""

from __future__ import annotations

import warnings

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import signalflow_gym
from gymtest_helpers import ENV_CONFIGS, small_synthetic
from signalflow_gym import EnvConfig

CASES = [
    pytest.param(None, id="default"),
    pytest.param({"actions": {"mapper": "per_signal"}}, id="per_signal"),
    pytest.param({"actions": {"mapper": "simple"}, "sizing": {"allow_shorts": True}, "features": {"runtime_features": ["regime"]}}, id="simple_shorts_runtime"),
    *[pytest.param(str(p), id=p.name) for p in ENV_CONFIGS],
]


def _check(env) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=False)
        sb3_check_env(env, warn=True)
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("config", CASES)
def test_env_checkers_pass_without_warnings_on_embedded_market(config):
    cfg = EnvConfig.coerce(config).replace(data={"n_bars": 1500})
    _check(gym.make("SignalFlow-v0", config=cfg, render_mode="ansi").unwrapped)


@pytest.mark.parametrize("mapper", ["simple", "per_signal"])
def test_env_checkers_pass_on_user_data(mapper):
    m = small_synthetic()
    env = gym.make(
        "SignalFlow-v0", raw_data=m.raw_data, signals=m.signals,
        config={"actions": {"mapper": mapper}, "episode": {"length": 200}}, render_mode="rgb_array",
    )
    _check(env.unwrapped)


def test_env_make_registered_id_without_arguments():
    assert signalflow_gym.ENV_ID in gym.registry
    env = gym.make("SignalFlow-v0")
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    _check(env.unwrapped)
    env.close()


def test_env_make_with_data_and_config(synthetic):
    env = gym.make(
        "SignalFlow-v0", raw_data=synthetic.raw_data, signals=synthetic.signals,
        config={"actions": {"mapper": "per_signal"}, "episode": {"length": 100}},
    )
    obs, _ = env.reset(seed=3)
    assert env.action_space.n == 1 + 3 + 3 + 1
    assert env.unwrapped.market.pairs == ("PAIR0USDT", "PAIR1USDT", "PAIR2USDT")
    env.close()


def test_env_registration_is_idempotent():
    import importlib

    importlib.reload(signalflow_gym)
    assert signalflow_gym.ENV_ID in gym.registry


def test_an_env_over_bars_without_signals_warns_that_it_can_never_enter():
    m = small_synthetic()
    with pytest.warns(UserWarning, match="the market has no signals, so no ENTER is ever valid"):
        gym.make("SignalFlow-v0", raw_data=m.raw_data, config={"episode": {"length": 200}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # with signals: no warning
        gym.make("SignalFlow-v0", raw_data=m.raw_data, signals=m.signals, config={"episode": {"length": 200}})
