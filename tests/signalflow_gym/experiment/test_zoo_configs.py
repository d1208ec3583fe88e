"""rl-zoo3 hyperparameters (`configs/zoo/*.yml`): they are the shipped experiment configs'
(no second set that can drift), and rl_zoo3's own entry point trains `SignalFlow-v0` with them
(a tiny budget); the saved model then backtests through the bridge."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

rl_zoo3 = pytest.importorskip("rl_zoo3", reason="the `zoo` extra (pip install -e '.[zoo]') provides rl_zoo3")

ROOT = Path(__file__).resolve().parents[3]
ALGOS = ("ppo", "a2c", "dqn")


def _zoo(algo: str) -> dict:
    data = yaml.safe_load((ROOT / "configs" / "zoo" / f"{algo}.yml").read_text())
    assert list(data) == ["SignalFlow-v0"]
    return data["SignalFlow-v0"]


@pytest.mark.parametrize("algo", ALGOS)
def test_zoo_hyperparameters_are_the_experiment_configs(algo):
    zoo = _zoo(algo)
    train = yaml.safe_load((ROOT / "configs" / f"{algo}.yaml").read_text())["train"]
    kwargs = {k: v for k, v in zoo.items() if k not in ("n_envs", "n_timesteps", "policy")}
    assert kwargs == train["algo_kwargs"]
    assert (zoo["n_envs"], zoo["n_timesteps"], zoo["policy"]) == (train["n_envs"], train["total_timesteps"], "MlpPolicy")


@pytest.mark.parametrize("algo", ALGOS)
def test_rl_zoo3_trains_signalflow_with_the_shipped_hyperparameters(algo, tmp_path):
    small = {"ppo": ["n_steps:64", "batch_size:32"], "a2c": ["n_envs:1"], "dqn": ["learning_starts:64", "buffer_size:1000"]}[algo]
    command = [
        sys.executable, "-m", "rl_zoo3.train", "--algo", algo, "--env", "SignalFlow-v0", "--gym-packages", "signalflow_gym",
        "--conf-file", str(ROOT / "configs" / "zoo" / f"{algo}.yml"), "-n", "128", "-f", str(tmp_path), "--seed", "0",
        "--eval-freq", "-1", "--hyperparams", *small,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / algo / "SignalFlow-v0_1"
    config = (run / "SignalFlow-v0" / "config.yml").read_text()
    assert "gamma" in config  # rl_zoo3 recorded the hyperparameters it used
    model_file = run / "SignalFlow-v0.zip"
    assert model_file.is_file()

    from stable_baselines3 import A2C, DQN, PPO

    from signalflow_gym import EnvConfig
    from signalflow_gym.bridge import RLTradingModel

    model = {"ppo": PPO, "a2c": A2C, "dqn": DQN}[algo].load(model_file, device="cpu")
    assert model.gamma == pytest.approx(_zoo(algo)["gamma"])
    result = RLTradingModel(model, EnvConfig()).backtest(start=0, end=300)
    assert result.metrics_df.height == 300
