"""Small wiring defects of the env layer: a passed market is used as is (the embedded synthetic
market is not built too), one info dict per step, the bridge exported at the package top."""

from __future__ import annotations

import signalflow_gym
import signalflow_gym.env as env_module
from signalflow_gym import EnvConfig, SignalFlowEnv
from signalflow_gym.data import default_market


def test_a_passed_market_does_not_build_the_embedded_one(monkeypatch):
    config = EnvConfig.from_dict({"data": {"n_bars": 400, "seed": 11}, "episode": {"length": 100}})
    market = default_market(config)

    def refuse(cfg):
        raise AssertionError("default_market() was called although a market was passed")

    monkeypatch.setattr(env_module, "default_market", refuse)
    env = SignalFlowEnv(market=market, config=config)
    assert env.market is market
    env.reset(seed=0)


def test_step_info_has_the_same_keys_at_every_step():
    env = SignalFlowEnv(config=EnvConfig.from_dict({"data": {"n_bars": 400}, "episode": {"length": 50}}))
    env.reset(seed=0)
    keys = None
    done = False
    while not done:
        _, _, terminated, truncated, info = env.step(0)
        done = terminated or truncated
        keys = keys or set(info) - {"trading"}
        # the same keys at every step; the last one adds the episode's trading figures
        assert set(info) == (keys | {"trading"} if done else keys)
        assert {"bar", "timestamp", "action_mask", "equity"} <= keys


def test_the_bridge_is_exported_at_the_package_top():
    from signalflow_gym.bridge import RLTradingModel

    assert signalflow_gym.RLTradingModel is RLTradingModel and "RLTradingModel" in signalflow_gym.__all__


def test_gymnasium_spellings_of_the_registration_work():
    import subprocess
    import sys

    code = (
        "import gymnasium as gym\n"
        "env = gym.make('signalflow_gym:SignalFlow-v0', config={'data': {'n_bars': 300}, 'episode': {'length': 50}})\n"
        "env.reset(seed=0)\n"
        "import signalflow_gym\n"
        "gym.register_envs(signalflow_gym)\n"
        "assert gym.make('SignalFlow-v0').spec.id == 'SignalFlow-v0'\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
