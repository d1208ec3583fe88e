"""ExperimentConfig: shipped configs, overrides, unknown keys, wrong types, env checkers."""

from __future__ import annotations

import re

import pytest
import yaml

from experiment_helpers import CONFIGS, SHIPPED
from signalflow.core.errors import ConfigError
from signalflow_gym.experiment import DataSpec, ExperimentConfig, TrainConfig, load_data, split_data


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_config_parses_and_round_trips(name, tmp_path):
    cfg = ExperimentConfig.from_yaml(CONFIGS / f"{name}.yaml")
    path = cfg.to_yaml(tmp_path / "copy.yaml")
    assert ExperimentConfig.from_yaml(path) == cfg
    assert ExperimentConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_config_env_passes_gymnasium_and_sb3_check_env(name):
    import warnings

    from gymnasium.utils.env_checker import check_env as gym_check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    from signalflow_gym import SignalFlowEnv

    cfg = ExperimentConfig.from_yaml(CONFIGS / f"{name}.yaml")
    raw, signals = load_data(cfg.data)
    train = split_data(cfg.data, raw, signals, env=cfg.env).train
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(SignalFlowEnv(train.raw_data, train.signals, config=cfg.env), skip_render_check=True)
        sb3_check_env(SignalFlowEnv(train.raw_data, train.signals, config=cfg.env), warn=True)


def test_overrides_set_nested_values_with_yaml_types():
    cfg = ExperimentConfig.from_yaml(
        CONFIGS / "ppo.yaml",
        ["train.total_timesteps=2000", "env.sizing.max_positions=5", "env.exit.take_profit_pct=null",
         "train.algo_kwargs.policy_kwargs={net_arch: [32, 32]}", "data.fractions=[0.5, 0.25, 0.25]"],
    )
    assert cfg.train.total_timesteps == 2000
    assert cfg.env.sizing.max_positions == 5
    assert cfg.env.exit.take_profit_pct is None
    assert cfg.train.algo_kwargs["policy_kwargs"] == {"net_arch": [32, 32]}
    assert cfg.data.fractions == (0.5, 0.25, 0.25)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.total_steps=5"], "unknown key `train.total_steps` in section `train`; did you mean `total_timesteps`?"),
        (["env.sizing.max_pos=5"], "unknown key `env.sizing.max_pos` in section `env.sizing`"),
        (["env.foo=1"], "unknown key `env.foo` in section `env`"),
        (["bogus.x=1"], "unknown key `bogus` in the experiment config"),
        (["train.algo_kwargs.n_step=5"], "unknown key `train.algo_kwargs.n_step` in the arguments of PPO; did you mean `n_steps`?"),
        (["data.synthetic.n_bar=5"], "unknown key `data.synthetic.n_bar` in section `data.synthetic`"),
        (["env.data.seed=1"], "unknown key `env.data` in the experiment config"),
    ],
)
def test_unknown_key_is_a_config_error_naming_it(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        ExperimentConfig.from_yaml(CONFIGS / "ppo.yaml", overrides)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.total_timesteps=abc"], "`train.total_timesteps` must be an integer >= 1, was 'abc'"),
        (["train.algo=SAC"], "`train.algo` must be one of 'PPO', 'A2C', 'DQN', 'MaskablePPO', 'RecurrentPPO', was 'SAC'"),
        (["train.vec_normalize=3"], "`train.vec_normalize` must be true or false, was 3"),
        (["env.sizing.max_positions=0"], "`env.sizing.max_positions` must be an integer >= 1, was 0"),
        (["data.fractions=[0.5, 0.5]"], "`data.fractions` must be three numbers"),
        (["data.detector=rsi"], "`data.detector` must be one of 'momentum', 'ma_cross', was 'rsi'"),
        (["train.algo_kwargs.seed=3"], "`train.algo_kwargs.seed` is set by the trainer; use `train.seed` instead"),
        (["data.split_at=[2024-01-10, 2024-01-05]"], "`data.split_at` must be increasing"),
        (["train"], "override must look like `section.key=value`, was 'train'"),
    ],
)
def test_wrong_type_is_a_config_error_naming_the_key(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        ExperimentConfig.from_yaml(CONFIGS / "ppo.yaml", overrides)


def test_missing_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        ExperimentConfig.from_yaml(tmp_path / "nope.yaml")


def test_error_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"train": {"algo": "PPO", "n_env": 2}}))
    with pytest.raises(ConfigError, match=re.escape(f"{path}: unknown key `train.n_env`")):
        ExperimentConfig.from_yaml(path)


def test_defaults_are_valid():
    cfg = ExperimentConfig()
    assert cfg.train == TrainConfig()
    assert cfg.data == DataSpec()
    assert cfg.train.policy_name == "MlpPolicy"
    assert TrainConfig(algo="RecurrentPPO").policy_name == "MlpLstmPolicy"


def test_split_too_short_for_episode_length_names_the_split():
    spec = DataSpec(synthetic={"n_bars": 1000})
    raw, signals = load_data(spec)
    env = ExperimentConfig(env={"episode": {"length": 300}}).env
    with pytest.raises(ConfigError, match=re.escape("the validation split has 200 bars, fewer than `env.episode.length`")):
        split_data(spec, raw, signals, env=env)


def test_split_at_gives_ordered_non_overlapping_slices():
    spec = DataSpec(synthetic={"n_bars": 1000}, split_at=["2024-01-01T08:00:00", "2024-01-01T12:00:00"])
    raw, signals = load_data(spec)
    split = split_data(spec, raw, signals)
    assert split.train.end < split.validation.start <= split.validation.end < split.test.start
    assert split.train.raw_data.height + split.validation.raw_data.height + split.test.raw_data.height == raw.height


def test_file_source_without_signals_uses_the_momentum_detector(tmp_path):
    raw, _ = load_data(DataSpec(synthetic={"n_bars": 800}))
    path = tmp_path / "bars.csv"
    raw.write_csv(path)
    bars, signals = load_data(DataSpec(source=str(path)))
    assert bars.height == raw.height
    assert signals.height > 0
    assert set(signals["signal_type"].unique()) <= {"rise", "fall"}
