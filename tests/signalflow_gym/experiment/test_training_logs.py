"""Training logs: every model gets its own logger inside the run folder (no stray `SB3-<time>`
folder in the system temp folder), and each finished episode's trading figures are logged as
`trading/<name>` scalars, and each validation run's as `eval/trading/<name>` (progress.csv, and
TensorBoard events when tensorboard is installed)."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import polars as pl

from signalflow_gym import SignalFlowEnv
from signalflow_gym.env import EPISODE_TRADING_FIGURES
from signalflow_gym.experiment.train import train

from tests.signalflow_gym.experiment.experiment_helpers import tiny_config


def _sb3_folders() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("SB3-*")}


def test_training_logs_trading_scalars_in_the_run_and_leaves_no_sb3_folder_in_tmp(tmp_path, monkeypatch):
    monkeypatch.delenv("SB3_LOGDIR", raising=False)  # SB3's own default, as a user has it
    before = _sb3_folders()
    config = tiny_config("ppo", "train.eval_freq=512", "env.episode.length=100", total=1024)
    train(config, tmp_path / "run", progress=False)
    assert _sb3_folders() == before
    progress = pl.read_csv(tmp_path / "run" / "tb" / config.name / "progress.csv")
    for name in EPISODE_TRADING_FIGURES:
        for key in (f"trading/{name}", f"eval/trading/{name}"):  # training episodes, validation runs
            column = progress.get_column(key).drop_nulls()
            assert column.len() > 0 and all(math.isfinite(v) for v in column.to_list()), key


def test_the_last_step_of_an_episode_carries_its_trading_figures():
    env = SignalFlowEnv(config={"data": {"n_bars": 400}, "episode": {"length": 60}})
    env.reset(seed=0)
    done, info = False, {}
    while not done:
        _, _, terminated, truncated, info = env.step(1)
        done = terminated or truncated
        if not done:
            assert "trading" not in info
    summary = env.episode_result().summary
    assert info["trading"] == {name: float(summary[name]) for name in EPISODE_TRADING_FIGURES}


def test_training_closes_its_log_files(tmp_path):
    import gc
    import warnings

    config = tiny_config("ppo", "train.eval_freq=0", "env.episode.length=100", total=256)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(config, tmp_path / "run", progress=False)
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)], [str(w.message) for w in caught]
