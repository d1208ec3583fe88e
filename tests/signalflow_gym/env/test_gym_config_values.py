"""EnvConfig checks values by meaning: levels that can never trigger, an agent that can never
enter, numpy numbers (accepted, stored as Python numbers) and bools (refused)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from signalflow.core.errors import ConfigError
from signalflow.strategy.component.exit import TakeProfitStopLossExit
from signalflow_gym import EnvConfig, build_runner


class _Model:
    def decide(self, context):
        return []


@pytest.mark.parametrize("name", ["stop_loss_pct", "take_profit_pct"])
@pytest.mark.parametrize("value", [1.5, 1.0])
def test_exit_levels_of_100_percent_or_more_are_refused(name, value):
    with pytest.raises(ConfigError, match=re.escape(f"`exit.{name}` must be a finite number in (0, 1), was {value!r}; ")):
        EnvConfig(exit={name: value})


def test_exit_with_one_level_builds_a_rule_without_the_other():
    runner = build_runner(EnvConfig(exit={"take_profit_pct": 0.03}), _Model())
    rule = runner.exit_rules[1]
    assert isinstance(rule, TakeProfitStopLossExit)
    assert (rule.take_profit_pct, rule.stop_loss_pct) == (0.03, None)


def test_per_signal_with_no_observed_signal_is_refused():
    """`per_signal` has one ENTER action per observed signal: with 0 the agent could never enter."""
    with pytest.raises(ConfigError, match=r"^`features.top_k_signals` must be an integer >= 1 with `actions.mapper: "
                                          r"per_signal`, was 0; .*could never open a position"):
        EnvConfig(actions={"mapper": "per_signal"}, features={"top_k_signals": 0})
    EnvConfig(actions={"mapper": "simple"}, features={"top_k_signals": 0})  # ENTER top still reads the bar's signals


def test_numpy_numbers_are_accepted_and_stored_as_python_numbers(tmp_path):
    cfg = EnvConfig(
        sizing={"base_position_size": np.float32(0.25), "max_positions": np.int64(4)},
        episode={"length": np.int32(100)},
        broker={"fee_rate": np.float32(0.001)},
        exit={"stop_loss_pct": np.float64(0.02)},
    )
    assert type(cfg.sizing.max_positions) is int and cfg.sizing.max_positions == 4
    assert type(cfg.episode.length) is int and type(cfg.sizing.base_position_size) is float
    assert EnvConfig.from_yaml(cfg.to_yaml(tmp_path / "env.yaml")) == cfg


@pytest.mark.parametrize(("section", "key"), [("sizing", "max_positions"), ("sizing", "base_position_size"),
                                              ("episode", "length"), ("broker", "initial_capital")])
def test_bools_are_refused_where_a_number_is_meant(section, key):
    with pytest.raises(ConfigError, match=re.escape(f"`{section}.{key}` must be")):
        EnvConfig(**{section: {key: True}})


def test_a_runtime_clip_beyond_float32_is_refused_and_a_large_one_keeps_the_space_finite():
    with pytest.raises(ConfigError, match=re.escape("`features.runtime_clip` must be a finite number in (0, 1e+30], was 1e+39; ")):
        EnvConfig(features={"runtime_features": ["a"], "runtime_clip": 1e39})
    from signalflow_gym.features import FeatureBuilder

    cfg = EnvConfig(features={"runtime_features": ["a"], "runtime_clip": 1e30})
    space = FeatureBuilder(cfg.features, cfg.sizing, ["A", "B"]).observation_space
    assert np.isfinite(space.high).all() and np.isfinite(space.low).all() and space.is_bounded()
