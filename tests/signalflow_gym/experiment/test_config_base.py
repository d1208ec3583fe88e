"""One config base (`signalflow_gym.validation`): a section's errors name its full dotted path
where it stands (an env config, an experiment's `env`, an experiment's `data.synthetic`),
composed once, never rewritten; choice lists come from the enums and registries."""

from __future__ import annotations

import re

import pytest

from signalflow.core.enums import FillAt
from signalflow.core.errors import ConfigError
from signalflow_gym.config import FILL_AT_CHOICES, BrokerConfig, DataConfig, EnvConfig
from signalflow_gym.experiment.baselines import BASELINES
from signalflow_gym.experiment.config import BASELINE_CHOICES, ExperimentConfig
from signalflow_gym.validation import ConfigSection, build_at, current_location


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["data.synthetic.n_bars=1"], "`data.synthetic.n_bars` must be an integer >= 2, was 1"),
        (["data.synthetic.volatility=abc"], "`data.synthetic.volatility` must be a finite number, was 'abc'"),
        (["env.broker.fee_rate=0.5"], "`env.broker.fee_rate` must be a finite number in [0, 0.1), was 0.5"),
        (["env.broker.fee_per_pair={X: {fee_model: bad}}"], "`env.broker.fee_per_pair.X.fee_model` must be one of"),
        (["env.skip_idle_bars=3"], "`env.skip_idle_bars` must be true or false, was 3"),
        (["env.actions.mapper=per_signal", "env.features.top_k_signals=0"],
         "`env.features.top_k_signals` must be an integer >= 1 with `actions.mapper: per_signal`, was 0"),
        (["env.broker=3"], "`env.broker` must be a mapping of its options, was int 3; write it as `env.broker: {"),
        (["evaluation.baselines=[hold, best]"], "`evaluation.baselines[1]` must be one of 'hold', 'random'"),
    ],
)
def test_an_experiments_sections_name_their_full_path(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        ExperimentConfig.from_dict({}, overrides)


def test_the_same_sections_on_their_own_name_their_own_path():
    with pytest.raises(ConfigError, match=re.escape("`broker.fee_rate` must be")):
        EnvConfig.from_dict({"broker": {"fee_rate": 0.5}})
    with pytest.raises(ConfigError, match=re.escape("`data.n_bars` must be an integer >= 2, was 1")):
        EnvConfig(data={"n_bars": 1})
    with pytest.raises(ConfigError, match=re.escape("`data.n_bars` must be an integer >= 2, was 1")):
        DataConfig(n_bars=1)
    with pytest.raises(ConfigError, match=re.escape("unknown key `broker.fee` in section `broker`;")):
        BrokerConfig.from_dict({"fee": 1})


def test_a_failed_nested_build_leaves_no_location_behind():
    with pytest.raises(ConfigError, match="env.sizing"):
        ExperimentConfig.from_dict({"env": {"sizing": {"max_positions": 0}}})
    assert current_location("top") == "top"
    with pytest.raises(ConfigError, match=re.escape("`sizing.max_positions`")):
        EnvConfig(sizing={"max_positions": 0})


def test_a_value_that_looks_like_a_path_is_reported_as_written():
    """Paths are composed where the message is written: nothing in a message is rewritten
    (the older base replaced every "`sizing" in it by "`env.sizing", values included)."""
    with pytest.raises(ConfigError) as err:
        ExperimentConfig.from_dict({"env": {"reward": {"name": "`sizing"}}})
    assert str(err.value).startswith("`env.reward.name` must be one of")
    assert "was '`sizing'" in str(err.value)


def test_build_at_returns_an_instance_as_it_is_and_sections_share_the_base():
    broker = BrokerConfig(fee_rate=0.002)
    assert build_at("env.broker", BrokerConfig, broker) is broker
    from signalflow_gym.experiment.config import DataSpec, EvaluationConfig, TrainConfig

    for cls in (BrokerConfig, DataConfig, TrainConfig, DataSpec, EvaluationConfig):
        assert issubclass(cls, ConfigSection)
    assert DataSpec(synthetic={"n_bars": 300}).to_dict()["synthetic"]["n_bars"] == 300


def test_choice_lists_derive_from_the_enums_and_registries():
    assert FILL_AT_CHOICES == tuple(f.value for f in FillAt)
    assert BASELINE_CHOICES == tuple(BASELINES)


def test_target_kl_and_clip_range_vf_may_be_null_their_algorithms_default():
    from signalflow_gym.experiment.config import ExperimentConfig

    cfg = ExperimentConfig.from_dict({"train": {"algo_kwargs": {"target_kl": None, "clip_range_vf": None}}})
    assert cfg.train.algo_kwargs == {"target_kl": None, "clip_range_vf": None}
    assert ExperimentConfig.from_dict({"train": {"algo_kwargs": {"target_kl": 0.02}}}).train.algo_kwargs == {"target_kl": 0.02}
