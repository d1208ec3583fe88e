"""Vectorised `SignalFlowEnv`s for training and validation (DummyVecEnv / SubprocVecEnv)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from signalflow_gym.config import EnvConfig

__all__ = ["EnvFactory", "make_vec_env", "validation_config"]


@dataclass
class EnvFactory:
    """Picklable env constructor (SubprocVecEnv with "spawn" pickles it): a `Monitor`-wrapped env."""

    raw_data: pl.DataFrame
    signals: pl.DataFrame
    config: EnvConfig
    market: Any = None  # a prebuilt MarketData shared by in-process envs (not pickled)

    def __call__(self) -> Any:
        from stable_baselines3.common.monitor import Monitor

        from signalflow_gym.env import SignalFlowEnv

        if self.market is not None:
            env = SignalFlowEnv(config=self.config, market=self.market)
        else:
            env = SignalFlowEnv(self.raw_data, self.signals, config=self.config)
        return Monitor(env)

    def __getstate__(self) -> dict[str, Any]:
        return {"raw_data": self.raw_data, "signals": self.signals, "config": self.config, "market": None}


def validation_config(config: EnvConfig) -> EnvConfig:
    """`config` with one episode = the whole data (fixed start, no warm-up, no augmentation): a
    deterministic score on the real market."""
    return config.without_augmentation().replace(episode={"length": None, "random_start": False, "warmup_bars": 0})


def make_vec_env(raw_data: pl.DataFrame, signals: pl.DataFrame, config: EnvConfig, *, n_envs: int = 1,
                 vec_env: str = "dummy") -> Any:
    """`n_envs` Monitor-wrapped `SignalFlowEnv`s over the same data, seeded so that runs with
    different seeds share no env's random stream (`SpreadSeeds`: ``seed(s)`` gives env i the
    seed ``s * n_envs + i``).

    "dummy": one process, one shared `MarketData`; "subproc": `SubprocVecEnv` with the
    "spawn" start method (forked workers hang with polars' and torch's thread pools).
    """
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    from signalflow.strategy.runner import MarketData
    from signalflow_gym.experiment.vec_seeds import SpreadSeeds

    if vec_env == "subproc" and n_envs > 1:
        factory = EnvFactory(raw_data, signals, config)
        return SpreadSeeds(SubprocVecEnv([factory] * n_envs, start_method="spawn"))
    market = MarketData.build(raw_data, signals)
    factory = EnvFactory(raw_data, signals, config, market=market)
    return SpreadSeeds(DummyVecEnv([factory] * n_envs))
