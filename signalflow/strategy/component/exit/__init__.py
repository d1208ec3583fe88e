"""Exit rules that need no model."""

from signalflow.strategy.component.exit.tp_sl import TakeProfitStopLossExit

__all__ = ["TakeProfitStopLossExit"]
