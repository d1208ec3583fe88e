"""`env.step(action)` takes what `Discrete.contains` takes: Python ints and integer numpy values.

Integer numpy scalars and 0-d or shape-(1,) integer arrays (what SB3's `predict` and
`DummyVecEnv` hand over) are accepted; floats (even 1.0), strings, bools, other shapes and
out-of-range integers raise a `ValueError` (also a `gymnasium.error.InvalidAction`) that names
the action space and the value. Nothing is truncated.
"""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.error import InvalidAction

from gymtest_helpers import small_market_data
from signalflow_gym import SignalFlowEnv
from signalflow_gym.actions import InvalidActionError


def make_env(**config) -> SignalFlowEnv:
    config.setdefault("episode", {"length": 200, "random_start": False})
    return SignalFlowEnv(market=small_market_data(), config=config)


def _first_enter_bar(env: SignalFlowEnv) -> None:
    """Step HOLD until ENTER (action 1) is valid, so that a wrongly accepted action would trade."""
    env.reset(seed=0)
    while not env.action_masks()[1]:
        env.step(0)


@pytest.mark.parametrize(
    "action",
    [1, np.int64(1), np.int32(1), np.uint8(1), np.array(1), np.array([1]), np.array([1], dtype=np.int32)],
    ids=["int", "int64", "int32", "uint8", "0-d array", "(1,) array", "(1,) int32 array"],
)
def test_integer_actions_are_accepted_and_mean_the_same_index(action):
    env = make_env()
    _first_enter_bar(env)
    *_, info = env.step(action)
    reference = make_env()
    _first_enter_bar(reference)
    *_, expected = reference.step(1)
    assert [d.action for d in info["decisions"]] == [d.action for d in expected["decisions"]]
    assert len(info["fills"]) == len(expected["fills"]) == 1


@pytest.mark.parametrize(
    "action",
    [1.7, 1.0, np.float32(2.9), np.float64(1.0), "2", True, np.bool_(True), np.array([1.0]),
     np.array([[1]]), np.array([1, 2]), None],
    ids=["1.7", "1.0", "float32", "float64", "str", "True", "np.bool_", "float array", "(1,1) array",
         "(2,) array", "None"],
)
def test_non_integer_actions_raise_a_value_error_naming_the_space_and_the_value(action):
    env = make_env()
    _first_enter_bar(env)
    with pytest.raises(ValueError) as caught:
        env.step(action)
    assert isinstance(caught.value, InvalidAction) and isinstance(caught.value, InvalidActionError)
    msg = str(caught.value)
    assert "Discrete(3)" in msg and repr(action) in msg, msg
    # nothing was traded: the bar is still open and ENTER still valid
    assert env.action_masks()[1]
    *_, info = env.step(0)
    assert info["fills"] == []


@pytest.mark.parametrize("action", [3, -1, np.int64(3), np.array([7])])
def test_out_of_range_integers_raise_a_value_error_naming_the_space(action):
    env = make_env()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action space Discrete\(3\)"):
        env.step(action)


def test_per_signal_space_is_named_in_the_error():
    env = make_env(actions={"mapper": "per_signal"})
    env.reset(seed=0)
    n = env.action_space.n
    with pytest.raises(InvalidActionError, match=rf"^`action` must be an integer in \[0, {n}\) \(the action space Discrete\({n}\)"):
        env.step(0.0)


@pytest.mark.parametrize("mapper", ["simple", "per_signal"])
def test_action_mappers_refuse_a_float_index_themselves(mapper):
    """The bridge and the baselines call the mapper directly: it checks the index too."""
    from signalflow_gym.actions import make_action_mapper
    from signalflow_gym.config import EnvConfig

    m = make_action_mapper(EnvConfig(actions={"mapper": mapper}))
    with pytest.raises(InvalidActionError, match=r"was 1\.7 \(float\)"):
        m.to_decisions(1.7, None)  # the index is checked before the context is read


def test_sb3_predict_outputs_and_vec_envs_still_step():
    from sb3_contrib import MaskablePPO
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    for algo in (PPO, MaskablePPO):
        env = make_env()
        model = algo("MlpPolicy", DummyVecEnv([make_env]), n_steps=32, batch_size=32, n_epochs=1, seed=0)
        model.learn(64)  # DummyVecEnv hands each env a numpy int64 from its actions array
        obs, _ = env.reset(seed=0)
        kwargs = {"action_masks": env.action_masks()} if algo is MaskablePPO else {}
        action, _ = model.predict(obs, deterministic=True, **kwargs)
        assert isinstance(action, np.ndarray) and action.shape == ()
        env.step(action)  # a 0-d int64 array
        env.step(action.reshape(1))  # a shape-(1,) array
