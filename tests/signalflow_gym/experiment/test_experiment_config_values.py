"""Experiment configs checked by meaning: an empty file is refused; numpy numbers are numbers."""

from __future__ import annotations

import numpy as np
import pytest

from signalflow.core.errors import ConfigError
from signalflow_gym.experiment import ExperimentConfig
from signalflow_gym.experiment.config import TrainConfig


@pytest.mark.parametrize("text", ["", "\n", "# nothing but a comment\n", "{}\n"])
def test_an_empty_config_file_is_refused(tmp_path, text):
    """It used to train 50,000 PPO steps with every default without a word."""
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"^config file `.*empty.yaml` is empty; write at least the algorithm, e\.g\. "
                                          r"`train: \{algo: PPO\}`"):
        ExperimentConfig.from_yaml(path)


def test_a_config_dict_may_still_be_empty():
    assert ExperimentConfig.from_dict({}) == ExperimentConfig()


def test_numpy_integers_in_the_train_section_are_stored_as_int(tmp_path):
    tc = TrainConfig(total_timesteps=np.int64(1000), n_envs=np.int32(2), seed=np.uint8(3))
    assert (type(tc.total_timesteps), type(tc.n_envs), type(tc.seed)) == (int, int, int)
    cfg = ExperimentConfig(train=tc)
    assert ExperimentConfig.from_yaml(cfg.to_yaml(tmp_path / "c.yaml")) == cfg
    with pytest.raises(ConfigError, match=r"`train.total_timesteps` must be an integer >= 1, was True"):
        TrainConfig(total_timesteps=True)
