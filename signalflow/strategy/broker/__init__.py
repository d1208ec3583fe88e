"""Broker: pending orders, fills and their effect on the portfolio; executors (spot, margin)
with pluggable fee and slippage models."""

from signalflow.strategy.broker.backtest_broker import BacktestBroker
from signalflow.strategy.broker.executor import VirtualMarginExecutor, VirtualSpotExecutor
from signalflow.strategy.broker.fees import FeeModel, FixedFee, PerPairFee, ProportionalFee
from signalflow.strategy.broker.slippage import HalfSpreadSlippage, ProportionalSlippage, SlippageModel, SquareRootImpact

__all__ = [
    "BacktestBroker",
    "VirtualSpotExecutor",
    "VirtualMarginExecutor",
    "FeeModel",
    "ProportionalFee",
    "FixedFee",
    "PerPairFee",
    "SlippageModel",
    "ProportionalSlippage",
    "HalfSpreadSlippage",
    "SquareRootImpact",
]
