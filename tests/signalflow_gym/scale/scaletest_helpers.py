"""Helpers of the scale tests (a tiny experiment config)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

#: Tiny budgets: 2 pairs x 3000 one-minute bars, 256 PPO steps, one random-policy seed.
TINY = [
    "train.total_timesteps=256",
    "train.algo_kwargs.n_steps=128",
    "train.algo_kwargs.batch_size=64",
    "train.algo_kwargs.n_epochs=1",
    "train.eval_freq=0",
    "train.checkpoint_freq=0",
    "data.synthetic.n_bars=3000",
    "data.synthetic.n_pairs=2",
    "env.episode.length=100",
    "evaluation.n_random_seeds=1",
]


def tiny_config(*overrides: str):
    """`configs/ppo.yaml` with `TINY` budgets and `overrides` applied."""
    from signalflow_gym.experiment import ExperimentConfig

    return ExperimentConfig.from_yaml(ROOT / "configs" / "ppo.yaml", [*TINY, *overrides])
