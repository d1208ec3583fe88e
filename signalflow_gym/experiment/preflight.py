"""Before training: build the model once on a stand-in env, so that SB3 and torch errors name a config key.

`TrainConfig` checks the names of `algo_kwargs` and the ranges of the common ones, but only
the algorithm's constructor knows everything it refuses (a policy that does not fit the
observation space, a `policy_kwargs` entry the policy does not take, `n_steps * n_envs`
below 2, ...). `check_model_builds(config)` constructs `config.train.algo` with the
config's policy, device and `algo_kwargs` over `train.n_envs` stand-in environments that
have the config's observation and action spaces (no data is loaded, nothing is trained or
written) and turns what it raises into one `ConfigError` naming the key:
`train.algo_kwargs.<name>` or `train.policy`. The CLI runs it before `train`.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from signalflow.core.errors import ConfigError
from signalflow_gym.experiment.config import ExperimentConfig, algorithm_class

__all__ = ["check_model_builds"]


def _stand_in_env_class(config: ExperimentConfig) -> type:
    """A Gymnasium env with the spaces `SignalFlowEnv` would have for `config.env` (zeros, no data)."""
    import gymnasium as gym

    from signalflow_gym.actions import make_action_mapper
    from signalflow_gym.features import FeatureBuilder

    env_cfg = config.env
    obs_space = FeatureBuilder(env_cfg.features, env_cfg.sizing).observation_space
    act_space = make_action_mapper(env_cfg).action_space

    class StandIn(gym.Env):
        observation_space = obs_space
        action_space = act_space

        def reset(self, *, seed: int | None = None, options: Any = None) -> tuple[np.ndarray, dict]:
            super().reset(seed=seed)
            return np.zeros(obs_space.shape, dtype=obs_space.dtype), {}

        def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
            return np.zeros(obs_space.shape, dtype=obs_space.dtype), 0.0, False, True, {}

        def action_masks(self) -> np.ndarray:
            return np.ones(int(act_space.n), dtype=bool)

    return StandIn


def _builds(config: ExperimentConfig, venv: Any, kwargs: Mapping[str, Any]) -> Exception | None:
    """None if the algorithm can be built with `kwargs`, else what it raised."""
    tc = config.train
    try:
        model = algorithm_class(tc.algo)(tc.policy_name, venv, seed=tc.seed, device=tc.device, verbose=0, **kwargs)
    except Exception as exc:  # noqa: BLE001 - whatever SB3 / torch refuse is a config problem here
        return exc
    del model
    return None


def _describe(exc: Exception) -> str:
    first = (str(exc).strip().splitlines() or [""])[0]
    if len(first) > 200:
        first = first[:197] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _check_net_arch(net_arch: Any) -> None:
    """Layer widths in `policy_kwargs.net_arch` (a list, or a mapping such as ``{pi: [...], vf:
    [...]}``) must be integers >= 1: torch builds a layer of width 0 with only a warning, and
    the policy then outputs constants."""
    if net_arch is None:
        return
    groups = net_arch.items() if isinstance(net_arch, Mapping) else [(None, net_arch)]
    for name, widths in groups:
        key = "train.algo_kwargs.policy_kwargs.net_arch" + (f".{name}" if name is not None else "")
        if isinstance(widths, (str, bytes)) or not isinstance(widths, (list, tuple)):
            raise ConfigError(f"`{key}` must be a list of layer widths, was {widths!r}; write e.g. [64, 64]")
        for i, width in enumerate(widths):
            if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
                raise ConfigError(f"`{key}[{i}]` must be a layer width, an integer >= 1, was {width!r}; "
                                  "write e.g. [64, 64] (an empty list means no hidden layer)")


def check_model_builds(config: ExperimentConfig) -> None:
    """Build `config.train.algo` once on stand-in envs; raise `ConfigError` naming the key it refuses."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    tc = config.train
    policy_kwargs = tc.algo_kwargs.get("policy_kwargs")
    if isinstance(policy_kwargs, Mapping):
        _check_net_arch(policy_kwargs.get("net_arch"))
    venv = DummyVecEnv([_stand_in_env_class(config)] * tc.n_envs)
    try:
        exc = _builds(config, venv, tc.algo_kwargs)
        if exc is None:
            return
        key, value = _culprit(config, venv, exc)
    finally:
        venv.close()
    where = f"`{key}`" if key != "train.n_envs" else "`train.algo_kwargs.n_steps` x `train.n_envs`"
    raise ConfigError(
        f"{where} must be a value {tc.algo} accepts, was {value!r}: {_describe(exc)}; fix it "
        f"(see {tc.algo}'s arguments in the stable-baselines3 documentation)"
    )


def _culprit(config: ExperimentConfig, venv: Any, exc: Exception) -> tuple[str, Any]:
    """The config key (and its value) that makes the build fail.

    The error message names the argument in most cases (``batch_size``, ``learning rate``);
    otherwise the model is built without `algo_kwargs` (fails: the policy) and then with each
    of them alone (the first one that fails).
    """
    tc = config.train
    kwargs = tc.algo_kwargs
    text = str(exc).lower()
    if "n_steps * n_envs" in text:
        return "train.n_envs", {"n_steps": kwargs.get("n_steps"), "n_envs": tc.n_envs}
    for key in sorted(kwargs, key=len, reverse=True):
        if key.lower() in text or key.replace("_", " ").lower() in text:
            return f"train.algo_kwargs.{key}", kwargs[key]
    if _builds(config, venv, {}) is not None:
        return "train.policy", tc.policy_name
    for key in kwargs:
        if _builds(config, venv, {key: kwargs[key]}) is not None:
            return f"train.algo_kwargs.{key}", kwargs[key]
    return "train.algo_kwargs", dict(kwargs)
