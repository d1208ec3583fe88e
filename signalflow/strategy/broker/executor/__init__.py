"""Executors: how orders become fills (price, fee, size) and the account's rules (spot or
margin: what an entry costs, borrow, liquidation)."""

from signalflow.strategy.broker.executor.base import Executor, LiquidationOrder, Quote
from signalflow.strategy.broker.executor.margin import VirtualMarginExecutor
from signalflow.strategy.broker.executor.spot import VirtualSpotExecutor

__all__ = ["Executor", "LiquidationOrder", "Quote", "VirtualMarginExecutor", "VirtualSpotExecutor"]
