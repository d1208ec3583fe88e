"""Executors: how orders become fills (price, fee, size)."""

from signalflow.strategy.broker.executor.spot import VirtualSpotExecutor

__all__ = ["VirtualSpotExecutor"]
