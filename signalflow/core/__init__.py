"""Domain objects of the backtester: pure accounting, no I/O."""

from signalflow.core.enums import ExitReason, FillAt, OrderSide, PositionType, SignalType
from signalflow.core.errors import (
    AccountingError,
    ConfigError,
    DataValidationError,
    DecisionError,
    ExportError,
    RunStateError,
    SignalFlowError,
)
from signalflow.core.order import Fill, Order
from signalflow.core.portfolio import Portfolio
from signalflow.core.position import Position
from signalflow.core.prices import PriceMap
from signalflow.core.signals import SIGNAL_COLUMNS, Signals
from signalflow.core.state import DECISION_CACHE_KEY, RejectedOrder, RunLog, SkippedDecision, StrategyState
from signalflow.core.trade import Trade

__all__ = [
    "PriceMap",
    "AccountingError",
    "ConfigError",
    "DataValidationError",
    "DecisionError",
    "ExportError",
    "RunStateError",
    "SignalFlowError",
    "ExitReason",
    "FillAt",
    "OrderSide",
    "PositionType",
    "SignalType",
    "Fill",
    "Order",
    "Portfolio",
    "Position",
    "SIGNAL_COLUMNS",
    "Signals",
    "DECISION_CACHE_KEY",
    "StrategyState",
    "RunLog",
    "SkippedDecision",
    "RejectedOrder",
    "Trade",
]
