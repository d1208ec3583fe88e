"""`EntryRule` and `ExitRule`: the two kinds of rule a runner calls every bar."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from signalflow.core.order import Order
from signalflow.core.state import SkippedDecision, StrategyState

if TYPE_CHECKING:
    from signalflow.strategy.model.context import ModelContext
    from signalflow.strategy.runner.market_data import MarketData

__all__ = ["EntryRule", "ExitRule", "NoOrdersBefore", "record_skip"]


class NoOrdersBefore(list):
    """An empty order list that also promises: no orders from this rule before bar `bar`
    (an index on the run's timestamp axis) while no position opens or closes.

    An exit rule may return it instead of `[]`; the runner then does not call the
    rule again in that run until bar `bar` or until a position opens or closes
    (`portfolio.version` changes), whichever comes first. Callers outside a runner
    can treat it as the empty list it is.
    """

    __slots__ = ("bar",)

    def __init__(self, bar: int) -> None:
        super().__init__()
        self.bar = bar

    def __repr__(self) -> str:
        return f"NoOrdersBefore(bar={self.bar})"


class ExitRule(ABC):
    """Decides which open positions to close at a bar.

    Exit rules run in order, before entry rules, except that rules whose
    `fills_intrabar` is True (stop / take-profit levels reached *inside* the bar)
    run first: their levels are hit before the close at which the other rules
    decide. A rule must only close positions for which
    `state.portfolio.is_closable(id)` holds: a position closed (or being closed)
    by an earlier rule on the same bar is not closed again. A rule that knows it
    will close nothing for a while returns `NoOrdersBefore(bar)` (see there).
    """

    #: True if this rule's orders fill inside the bar (at a level), before the bar's close.
    fills_intrabar: bool = False

    def on_start(self, market: "MarketData") -> None:
        """Called once when a run starts, with the run's market arrays."""

    @abstractmethod
    def check_exits(self, context: "ModelContext", state: StrategyState) -> list[Order]:
        """Exit orders for this bar (filled per the runner's `fill_at`)."""


class EntryRule(ABC):
    """Decides which positions to open at a bar (after all exits of the bar)."""

    def on_start(self, market: "MarketData") -> None:
        """Called once when a run starts, with the run's market arrays."""

    @abstractmethod
    def check_entries(self, context: "ModelContext", state: StrategyState) -> list[Order]:
        """Entry orders for this bar, sized as a notional in quote currency."""


def record_skip(state: StrategyState, context: "ModelContext", decision, reason: str) -> None:
    """Count and log a decision that is not acted on (never dropped silently)."""
    state.log.skip(
        SkippedDecision(
            bar=context.bar_index,
            timestamp=context.timestamp,
            action=decision.action._value_,  # (`.value` goes through a descriptor)
            pair=decision.pair,
            position_id=decision.position_id,
            reason=reason,
        )
    )
