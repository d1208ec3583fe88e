"""Helpers for experiment tests: shipped config names, tiny budgets, in-process CLI runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from signalflow_gym.experiment import ExperimentConfig

REPO = Path(__file__).resolve().parents[3]
CONFIGS = REPO / "configs"
SHIPPED = ["ppo", "a2c", "dqn", "maskable_ppo", "recurrent_ppo", "demo"]
#: Small budgets per algorithm (a round trip, not learning).
TINY_TRAIN = {
    "PPO": {"algo_kwargs.n_steps": 128, "algo_kwargs.batch_size": 64},
    "A2C": {"algo_kwargs.n_steps": 8},
    "DQN": {"algo_kwargs.learning_starts": 100, "algo_kwargs.buffer_size": 2000},
    "MaskablePPO": {"algo_kwargs.n_steps": 128, "algo_kwargs.batch_size": 64},
    "RecurrentPPO": {"algo_kwargs.n_steps": 128, "algo_kwargs.batch_size": 64},
}


def tiny_overrides(total: int = 512, *, n_bars: int = 3000, length: int = 200) -> list[str]:
    """Overrides that make any shipped config fast: small market, short episodes, tiny budget."""
    return [
        f"train.total_timesteps={total}",
        "train.eval_freq=256",
        "train.checkpoint_freq=256",
        f"data.synthetic.n_bars={n_bars}",
        f"env.episode.length={length}",
        "evaluation.n_random_seeds=2",
    ]



def tiny_config(name: str = "ppo", *extra: str, total: int = 512) -> ExperimentConfig:
    """A shipped config made tiny (small market, short episodes, small budget)."""
    algo = ExperimentConfig.from_yaml(CONFIGS / f"{name}.yaml").train.algo
    algo_over = [f"train.{k}={v}" for k, v in TINY_TRAIN[algo].items()]
    return ExperimentConfig.from_yaml(CONFIGS / f"{name}.yaml", [*tiny_overrides(total), *algo_over, *extra])


def run_main(argv: list[str], capsys: Any) -> tuple[int, str, str]:
    from signalflow_gym.cli import main

    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err
