"""`EnvConfig`: defaults, validation messages, dict / YAML / JSON round trips, `build_runner`."""

from __future__ import annotations

import re

import pytest

from signalflow.core.errors import ConfigError
from signalflow.strategy.component.exit import TakeProfitStopLossExit
from signalflow.strategy.model import ModelEntryRule, ModelExitRule
from signalflow_gym import EnvConfig, SizingConfig, build_runner

from gymtest_helpers import ENV_CONFIGS


def exact(msg: str) -> str:
    return f"^{re.escape(msg)}$"


def test_config_defaults_match_the_documented_values():
    c = EnvConfig()
    assert (c.broker.initial_capital, c.broker.fee_rate, c.broker.slippage_pct, c.broker.fill_at) == (10_000.0, 0.001, 0.0, "close")
    assert (c.sizing.base_position_size, c.sizing.max_positions, c.sizing.min_confidence, c.sizing.allow_shorts) == (0.1, 3, 0.0, False)
    assert (c.features.top_k_signals, c.features.max_position_features, c.features.runtime_features) == (3, 3, ())
    assert (c.actions.mapper, c.reward.name, c.episode.length, c.episode.random_start) == ("simple", "log_return", 1000, True)
    assert (c.termination.ruin_fraction, c.termination.max_drawdown, c.skip_idle_bars) == (0.5, None, False)


def test_config_shipped_yaml_files_exist():
    names = {p.name for p in ENV_CONFIGS}
    assert {"env_simple.yaml", "env_per_signal.yaml"} <= names


@pytest.mark.parametrize("path", ENV_CONFIGS, ids=lambda p: p.name)
def test_config_yaml_round_trip_is_identity(path, tmp_path):
    c = EnvConfig.from_yaml(path)
    assert EnvConfig.from_dict(c.to_dict()) == c
    assert EnvConfig.from_json(c.to_json()) == c
    out = c.to_yaml(tmp_path / "sub" / "env.yaml")
    assert EnvConfig.from_yaml(out) == c
    assert EnvConfig.coerce(str(out)) == c


def test_config_coerce_accepts_config_dict_path_and_none(tmp_path):
    c = EnvConfig(sizing={"max_positions": 5})
    assert c.sizing == SizingConfig(max_positions=5)
    assert EnvConfig.coerce(c) is c
    assert EnvConfig.coerce({"sizing": {"max_positions": 5}}) == c
    assert EnvConfig.coerce(None) == EnvConfig()
    p = tmp_path / "c.json"
    p.write_text(c.to_json())
    assert EnvConfig.coerce(p) == c


def test_config_unknown_top_level_key_names_it_and_lists_valid_keys():
    msg = (
        "unknown key `sizng` in the env config; did you mean `sizing`? valid keys: `broker`, `sizing`, `exit`, "
        "`features`, `actions`, `reward`, `episode`, `skip_idle_bars`, `termination`, `augment`, `data`"
    )
    with pytest.raises(ConfigError, match=exact(msg)):
        EnvConfig.from_dict({"sizng": {}})


#: every key of the broker section, in order (the costs-and-risk issue added all after `fill_at`)
BROKER_KEYS = (
    "`initial_capital`, `fee_rate`, `slippage_pct`, `fill_at`, `a"
    "ccount`, `fee_model`, `fee_minimum`, `fee_fixed`, `fee_per_pair`, `slippage_model`, `spread_bps`, `spread_from_column`, `impact_k`, `impact_window`, `max_volume_participation`, `leverage`, `maintenance_margin`, `borrow_rate`, `intrabar_liquidation`"
)


def test_config_unknown_section_key_names_it_and_lists_valid_keys():
    msg = (
        "unknown key `broker.fee_rat` in section `broker`; did you mean `fee_rate`? valid keys: "
        f"{BROKER_KEYS}"
    )
    with pytest.raises(ConfigError, match=exact(msg)):
        EnvConfig.from_dict({"broker": {"fee_rat": 0.1}})
    msg = f"unknown key `broker.zzz` in section `broker`; valid keys: {BROKER_KEYS}"
    with pytest.raises(ConfigError, match=exact(msg)):
        EnvConfig.from_dict({"broker": {"zzz": 0.1}})


def test_config_wrong_type_is_a_config_error_naming_the_key():
    with pytest.raises(ConfigError, match=exact("`sizing.max_positions` must be an integer >= 1, was '3'; '3' is quoted text, not a number; write it without quotes")):
        EnvConfig.from_dict({"sizing": {"max_positions": "3"}})
    with pytest.raises(ConfigError, match=exact("`broker.fill_at` must be one of 'close', 'next_open', was 'open'; pick one of 'close', 'next_open'")):
        EnvConfig.from_dict({"broker": {"fill_at": "open"}})
    with pytest.raises(ConfigError, match=r"^`sizing` must be a mapping of its options, was int 3"):
        EnvConfig.from_dict({"sizing": 3})
    with pytest.raises(ConfigError, match=exact("`skip_idle_bars` must be true or false, was 'yes'; write true or false")):
        EnvConfig.from_dict({"skip_idle_bars": "yes"})


def test_config_out_of_range_value_says_rule_value_and_fix():
    msg = "`broker.fee_rate` must be a finite number in [0, 0.1), was 0.5; use a fraction per fill, e.g. 0.001 (0.1%)"
    with pytest.raises(ConfigError, match=exact(msg)):
        EnvConfig(broker={"fee_rate": 0.5})


def test_config_is_frozen():
    c = EnvConfig()
    with pytest.raises(AttributeError):
        c.skip_idle_bars = True  # type: ignore[misc]


def test_config_replace_merges_section_dicts():
    c = EnvConfig().replace(sizing={"allow_shorts": True})
    assert c.sizing.allow_shorts and c.sizing.max_positions == 3


class _Model:
    def decide(self, context):
        return []


def test_build_runner_wires_model_exit_tp_sl_then_model_entry():
    cfg = EnvConfig(exit={"take_profit_pct": 0.03}, sizing={"max_positions": 2, "allow_shorts": True}, broker={"fill_at": "next_open"})
    model = _Model()
    runner = build_runner(cfg, model)
    assert [type(r) for r in runner.exit_rules] == [ModelExitRule, TakeProfitStopLossExit]
    assert runner.exit_rules[0].model is model
    (entry,) = runner.entry_rules
    assert isinstance(entry, ModelEntryRule) and entry.max_positions == 2 and entry.allow_shorts
    assert runner.fill_at.value == "next_open"
    assert runner.exit_rules[1].take_profit_pct == 0.03


def test_build_runner_without_tp_sl_has_only_the_model_exit():
    runner = build_runner(EnvConfig(), _Model())
    assert [type(r) for r in runner.exit_rules] == [ModelExitRule]
