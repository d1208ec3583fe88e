"""Runs with different seeds share no env's random stream, whatever `train.n_envs` is."""

from __future__ import annotations

import torch

from signalflow_gym import env as env_module
from signalflow_gym.experiment.train import train

from experiment_helpers import tiny_config


def _episode_streams(monkeypatch, tmp_path, seed: int) -> list[list[tuple[int, bool]]]:
    """Per training env of one A2C run (4 envs): the (window start, mirrored) of its episodes."""
    streams: dict[int, list[tuple[int, bool]]] = {}
    reset = env_module.SignalFlowEnv.reset

    def recording_reset(self, *, seed=None, options=None):
        obs, info = reset(self, seed=seed, options=options)
        if options is None:  # (training episodes; validation passes a fixed start)
            streams.setdefault(id(self), []).append((info["window"][0], info["mirrored"]))
        return obs, info

    monkeypatch.setattr(env_module.SignalFlowEnv, "reset", recording_reset)
    cfg = tiny_config("a2c", f"train.seed={seed}", "train.eval_freq=0", "train.checkpoint_freq=0",
                      "env.episode.length=30", "env.augment.mirror=0.5", total=256)
    assert cfg.train.n_envs == 4
    torch.set_num_threads(1)
    train(cfg, tmp_path / f"seed{seed}", progress=False)
    monkeypatch.undo()
    return list(streams.values())


def test_training_seeds_0_and_1_with_4_envs_share_no_episode_stream(monkeypatch, tmp_path):
    first, second = (_episode_streams(monkeypatch, tmp_path, s) for s in (0, 1))
    assert len(first) == len(second) == 4
    assert all(len(stream) >= 3 for stream in first + second)  # a few episodes per env
    shared = [(i, j) for i, a in enumerate(first) for j, b in enumerate(second) if a[:3] == b[:3]]
    assert shared == []  # (SB3 seeds env i with seed + i: seed 1's env j was seed 0's env j + 1)
