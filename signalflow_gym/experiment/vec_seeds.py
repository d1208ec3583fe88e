"""`SpreadSeeds`: a VecEnv whose runs with different seeds never share an episode stream."""

from __future__ import annotations

from typing import Any

from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

__all__ = ["SpreadSeeds"]


class SpreadSeeds(VecEnvWrapper):
    """``seed(s)`` gives env i of the wrapped VecEnv the seed ``s * num_envs + i``.

    A VecEnv seeds env i with ``s + i``, and SB3 seeds its env with the run's seed: with 4
    envs the runs of seeds 0 and 1 would share 3 of their 4 episode streams (the same
    windows and augmentation draws), so a confidence interval over seeds would count
    correlated runs as independent ones. With one env the seed is unchanged. Everything
    else is the wrapped VecEnv's.
    """

    def __init__(self, venv: VecEnv) -> None:
        super().__init__(venv)

    def seed(self, seed: int | None = None) -> Any:
        return self.venv.seed(None if seed is None else int(seed) * self.num_envs)

    def reset(self) -> Any:
        return self.venv.reset()

    def step_wait(self) -> Any:
        return self.venv.step_wait()
