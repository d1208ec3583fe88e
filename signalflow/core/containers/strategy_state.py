"""Reference import path of `StrategyState` (see `signalflow.core.containers`)."""

from signalflow.core.state import StrategyState

__all__ = ["StrategyState"]
