"""Exported episodes and validation scores are the real market's, even for a config that
mirrors training episodes (`env.augment.mirror`)."""

from __future__ import annotations

import json

import polars as pl

from signalflow_gym.experiment import ExperimentConfig, export_episodes
from signalflow_gym.experiment.envs import validation_config

OVERRIDES = ["data.synthetic.n_bars=1500", "env.episode.length=120"]


def test_export_of_a_mirroring_config_records_unmirrored_episodes(tmp_path):
    plain = ExperimentConfig.from_dict({}, OVERRIDES)
    mirroring = ExperimentConfig.from_dict({}, [*OVERRIDES, "env.augment.mirror=1.0"])
    a = export_episodes(tmp_path / "plain", policy="random", episodes=3, config=plain, seed=3)
    b = export_episodes(tmp_path / "mirror", policy="random", episodes=3, config=mirroring, seed=3)
    for name in ("transitions.parquet", "episodes.parquet"):
        left, right = pl.read_parquet(a / name), pl.read_parquet(b / name)
        assert left.height > 0 and left.equals(right), name
    manifest = json.loads((b / "manifest.json").read_text())
    assert manifest["env_config"]["augment"]["mirror"] == 0.0
    assert manifest["experiment"]["env"]["augment"]["mirror"] == 1.0  # the config as given is kept


def test_validation_config_turns_augmentation_off():
    cfg = ExperimentConfig.from_dict({}, ["env.augment.mirror=0.5"]).env
    assert validation_config(cfg).augment.mirror == 0.0 and cfg.augment.mirror == 0.5
