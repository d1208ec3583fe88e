"""`EnvConfig.broker` selects every fee model, slippage model, the volume cap and the account
type; the values are validated by name, round-trip through YAML, and the environment, the
bridge and the baselines all get the executor they describe (`BrokerConfig.build_executor`)."""

from __future__ import annotations

import re

import pytest

from signalflow.core.errors import ConfigError
from signalflow.strategy.broker import (
    FixedFee,
    HalfSpreadSlippage,
    PerPairFee,
    ProportionalFee,
    ProportionalSlippage,
    SquareRootImpact,
    VirtualMarginExecutor,
    VirtualSpotExecutor,
)
from signalflow_gym import EnvConfig, SignalFlowEnv
from signalflow_gym.config import build_runner
from signalflow_gym.experiment.baselines import buy_and_hold


class NoDecisions:
    def decide(self, context):
        return []


def exact(message: str) -> str:
    return "^" + re.escape(message) + "$"


def test_default_broker_is_the_guide_spot_executor():
    ex = EnvConfig().broker.build_executor()
    assert type(ex) is VirtualSpotExecutor
    assert ex.fee_model == ProportionalFee(0.001) and ex.slippage_model == ProportionalSlippage(0.0)
    assert ex.max_volume_participation is None and not ex.intrabar_liquidation


@pytest.mark.parametrize(
    ("broker", "fee", "slippage"),
    [
        ({"fee_model": "fixed", "fee_fixed": 2.0}, FixedFee(2.0), ProportionalSlippage(0.0)),
        ({"fee_rate": 0.002, "fee_minimum": 1.0}, ProportionalFee(0.002, 1.0), ProportionalSlippage(0.0)),
        ({"slippage_pct": 0.0005}, ProportionalFee(0.001), ProportionalSlippage(0.0005)),
    ],
)
def test_fee_and_proportional_slippage_models_are_selected(broker, fee, slippage):
    ex = EnvConfig(broker=broker).broker.build_executor()
    assert ex.fee_model == fee and ex.slippage_model == slippage


def test_per_pair_fee_overrides_named_pairs_only():
    config = EnvConfig(broker={"fee_rate": 0.002, "fee_per_pair": {"BTC": {"fee_model": "fixed", "fee_fixed": 0.5}}})
    fee = config.broker.build_executor().fee_model
    assert isinstance(fee, PerPairFee)
    assert fee.fee("BTC", 10.0, 100.0) == 0.5
    assert fee.fee("ETH", 10.0, 100.0) == pytest.approx(2.0)


def test_half_spread_and_sqrt_impact_are_selected():
    ex = EnvConfig(broker={"slippage_model": "half_spread", "spread_bps": 4}).broker.build_executor()
    assert isinstance(ex.slippage_model, HalfSpreadSlippage) and ex.slippage_model.spread_bps == 4.0
    ex = EnvConfig(broker={"slippage_model": "half_spread", "spread_from_column": True}).broker.build_executor()
    assert ex.slippage_model.from_column
    ex = EnvConfig(broker={"slippage_model": "sqrt_impact", "impact_k": 0.3, "impact_window": 50,
                           "max_volume_participation": 0.1}).broker.build_executor()
    assert isinstance(ex.slippage_model, SquareRootImpact)
    assert (ex.slippage_model.k, ex.slippage_model.window, ex.max_volume_participation) == (0.3, 50, 0.1)


def test_margin_account_is_selected_with_its_options():
    config = EnvConfig(broker={"account": "margin", "leverage": 3, "borrow_rate": 0.1, "maintenance_margin": 0.1,
                               "intrabar_liquidation": True})
    ex = config.broker.build_executor()
    assert type(ex) is VirtualMarginExecutor
    assert (ex.leverage, ex.borrow_rate, ex.maintenance_margin, ex.intrabar_liquidation) == (3.0, 0.1, 0.1, True)
    assert EnvConfig(broker={"account": "margin", "leverage": 4}).broker.build_executor().maintenance_margin == 0.125


@pytest.mark.parametrize(
    ("broker", "message"),
    [
        ({"account": "futures"}, "`broker.account` must be one of 'spot', 'margin', was 'futures'; pick one of 'spot', 'margin'"),
        ({"leverage": 2}, "`broker.leverage` must be 1.0 with account: spot, was 2.0; set account: margin to trade with "
                          "leverage, maintenance margin or borrow costs"),
        ({"borrow_rate": 0.1}, "`broker.borrow_rate` must be 0.0 with account: spot, was 0.1; set account: margin to trade "
                               "with leverage, maintenance margin or borrow costs"),
        ({"account": "margin", "leverage": 4, "maintenance_margin": 0.3},
         "`broker.maintenance_margin` must be a finite number in [0, 0.25), was 0.3; use a share of the gross exposure "
         "below 1 / leverage, e.g. 0.125, or null (0.5 / leverage)"),
        ({"fee_fixed": 1.0}, "`broker.fee_fixed` must be 0 with fee_model: proportional, was 1.0; set fee_model: fixed to "
                             "charge a fixed fee per fill"),
        ({"slippage_model": "half_spread"}, "`broker.spread_bps` must be set exactly when spread_from_column is false, was "
                                            "None; with slippage_model: half_spread give spread_bps (e.g. 4) or "
                                            "spread_from_column: true"),
        ({"spread_bps": 3}, "`broker.slippage_model` must be half_spread when spread_bps or spread_from_column is set, was "
                            "'proportional'; set slippage_model: half_spread, or remove spread_bps / spread_from_column"),
        ({"slippage_model": "sqrt_impact", "slippage_pct": 0.001},
         "`broker.slippage_pct` must be 0 with slippage_model: sqrt_impact, was 0.001; slippage_pct is the proportional "
         "model's; remove it"),
        ({"max_volume_participation": 1.5}, "`broker.max_volume_participation` must be a finite number in (0, 1], was 1.5; "
                                            "use a share of the fill bar's volume, e.g. 0.1, or null for no cap"),
        ({"impact_window": 1}, "`broker.impact_window` must be an integer >= 2, was 1; use bars of past returns, e.g. 20"),
    ],
)
def test_bad_broker_values_are_refused_by_name(broker, message):
    with pytest.raises(ConfigError, match=exact(message)):
        EnvConfig(broker=broker)


def test_unknown_key_in_a_per_pair_fee_is_named():
    with pytest.raises(ConfigError, match=r"unknown key `broker\.fee_per_pair\.BTC\.rate`.*did you mean `fee_rate`"):
        EnvConfig(broker={"fee_per_pair": {"BTC": {"rate": 0.1}}})


def test_costs_round_trip_through_yaml(tmp_path):
    config = EnvConfig(broker={"account": "margin", "leverage": 2, "borrow_rate": 0.05, "slippage_model": "sqrt_impact",
                               "impact_k": 0.7, "max_volume_participation": 0.2, "fee_minimum": 0.5,
                               "fee_per_pair": {"PAIR0USDT": {"fee_model": "fixed", "fee_fixed": 1.0}}})
    path = config.to_yaml(tmp_path / "env.yaml")
    assert EnvConfig.from_yaml(path) == config
    assert EnvConfig.from_json(config.to_json()) == config


def test_env_bridge_runner_and_baselines_use_the_configured_account():
    config = EnvConfig.from_dict({"broker": {"account": "margin", "leverage": 2, "fee_model": "fixed", "fee_fixed": 3.0},
                                  "data": {"n_bars": 300}, "episode": {"length": 100}})
    env = SignalFlowEnv(config=config)
    assert type(env.runner.broker.executor) is VirtualMarginExecutor
    assert type(build_runner(config, NoDecisions()).broker.executor) is VirtualMarginExecutor
    result = buy_and_hold(env.market, config)
    # fixed fee: one entry fill per pair, 3.0 each
    assert result.summary["fees"] == pytest.approx(3.0 * env.market.n_pairs)
