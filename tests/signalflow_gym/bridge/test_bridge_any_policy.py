"""Any policy through the bridge: a plain torch module and a plain callable `(obs, mask) ->
action` backtest through `RLTradingModel` with exactly the trades and per-bar metrics of an
env episode driven by the same policy (through the same `PolicyAdapter`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from signalflow.core.errors import ConfigError
from signalflow_gym import SignalFlowEnv
from signalflow_gym.bridge import RLTradingModel
from signalflow_gym.policy import PolicyAdapter

from tests.signalflow_gym.bridge.test_bridge_parity import LENGTH, START, _assert_identical, _backtest, _config


def scripted(obs: np.ndarray, mask: np.ndarray) -> int:
    """A deterministic function of the observation: varies its choice among the valid actions."""
    valid = np.flatnonzero(mask)
    return int(valid[int(abs(float(obs.sum())) * 1000) % len(valid)])


def tiny_torch_policy(n_features: int, n_actions: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(n_features, 16), torch.nn.Tanh(), torch.nn.Linear(16, n_actions))


def _env_episode(env: SignalFlowEnv, adapter: PolicyAdapter):
    obs, _ = env.reset(seed=0, options={"start": START, "length": LENGTH})
    adapter.reset()
    done = False
    while not done:
        obs, _, terminated, truncated, _ = env.step(adapter(obs, env.action_masks()))
        done = terminated or truncated
    return env.episode_result()


@pytest.mark.parametrize("kind", ["callable", "torch"])
@pytest.mark.parametrize("variant", [{}, {"broker": {"fill_at": "next_open"}, "sizing": {"allow_shorts": True}}],
                         ids=["close", "next_open_shorts"])
def test_torch_module_and_callable_backtest_equals_env_episode(kind, variant):
    torch.set_num_threads(1)
    config = _config(variant)
    env = SignalFlowEnv(config=config)
    policy = scripted if kind == "callable" else tiny_torch_policy(env.observation_space.shape[0], int(env.action_space.n))
    episode = _env_episode(env, PolicyAdapter(policy, n_actions=int(env.action_space.n)))
    backtest, bridge = _backtest(policy, config)
    _assert_identical(episode, backtest)
    assert bridge.calls == LENGTH


def test_torch_policy_never_takes_a_masked_action():
    torch.set_num_threads(1)
    policy = tiny_torch_policy(4, 3)
    adapter = PolicyAdapter(policy, n_actions=3)
    obs = np.ones(4, dtype=np.float32)
    best = adapter(obs, np.ones(3, dtype=bool))
    mask = np.ones(3, dtype=bool)
    mask[best] = False
    assert adapter(obs, mask) != best


def test_bad_policies_are_refused_by_name():
    with pytest.raises(ConfigError, match=r"must be an SB3-style model .* was int"):
        PolicyAdapter(3, n_actions=3)
    with pytest.raises(ConfigError, match=r"must take \(obs, mask\).*takes 1 required positional"):
        PolicyAdapter(lambda obs: 0, n_actions=3)
    with pytest.raises(ConfigError, match=r"returned action 7, outside \[0, 3\)"):
        PolicyAdapter(lambda obs, mask: 7, n_actions=3)(np.zeros(2), np.ones(3, bool))
    with pytest.raises(ConfigError, match=r"returned 1.5; it must return one action index"):
        PolicyAdapter(lambda obs, mask: 1.5, n_actions=3)(np.zeros(2), np.ones(3, bool))
    with pytest.raises(ConfigError, match=r"returned 4 scores .* must have 3 outputs"):
        PolicyAdapter(tiny_torch_policy(2, 4), n_actions=3)(np.zeros(2, np.float32), np.ones(3, bool))


def test_predict_that_does_not_return_action_and_state_is_refused_by_name_and_optional_mask_is_accepted():
    """predict() returning 1 or np.array([1]) raised a bare unpacking error, np.array([2, 0]) was
    taken as action 2; a callable (obs, mask=None) was refused as taking one argument."""

    class Predicts:
        def __init__(self, result):
            self.result = result

        def predict(self, obs, deterministic=True):
            return self.result

    for result in (1, np.array([1]), np.array([2, 0])):
        with pytest.raises(ConfigError, match=r"\.predict\(\) returned .*; it must return \(action, state\)"):
            PolicyAdapter(Predicts(result), n_actions=3)(np.zeros(2), np.ones(3, bool))
    assert PolicyAdapter(Predicts((np.array([2]), None)), n_actions=3)(np.zeros(2), np.ones(3, bool)) == 2
    assert PolicyAdapter(lambda obs, mask=None: 1, n_actions=3)(np.zeros(2), np.ones(3, bool)) == 1
    with pytest.raises(ConfigError, match=r"takes 3 required positional"):
        PolicyAdapter(lambda obs, mask, extra: 1, n_actions=3)


def test_roll_out_refuses_an_action_the_env_refuses():
    """It coerced the actor's output with int(): 1.7 ran as action 1, True as 1."""
    from signalflow_gym.actions import InvalidActionError
    from signalflow_gym.experiment.export import roll_out

    for bad in (1.7, True):
        env = SignalFlowEnv(config=_config({}))
        with pytest.raises(InvalidActionError):
            next(roll_out(env, lambda obs, mask, bad=bad: bad, episodes=1, seed=0))


def test_rl_trading_model_accepts_a_callable_directly():
    config = _config({})
    model = RLTradingModel(scripted, config)
    assert model.adapter.kind == "callable" and model.adapter.uses_mask
