"""The reference implementation's import paths (`signalflow.core.containers.position`, ...),
kept so code written against it imports unchanged. The objects live in `signalflow.core`."""

from signalflow.core.order import Fill, Order
from signalflow.core.portfolio import Portfolio
from signalflow.core.position import Position
from signalflow.core.signals import Signals
from signalflow.core.state import StrategyState
from signalflow.core.trade import Trade

__all__ = ["Fill", "Order", "Portfolio", "Position", "Signals", "StrategyState", "Trade"]
