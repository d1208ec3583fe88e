"""Broker: pending orders, fills and their effect on the portfolio."""

from signalflow.strategy.broker.backtest_broker import BacktestBroker

__all__ = ["BacktestBroker"]
