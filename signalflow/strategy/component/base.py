"""`EntryRule` and `ExitRule`: the two kinds of rule a runner calls every bar."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from signalflow.core.order import Order
from signalflow.core.state import SkippedDecision, StrategyState

if TYPE_CHECKING:
    from signalflow.strategy.model.context import ModelContext
    from signalflow.strategy.runner.market_data import MarketData

__all__ = ["EntryRule", "ExitRule", "record_skip"]


class ExitRule(ABC):
    """Decides which open positions to close at a bar.

    Exit rules run in order, before entry rules, except that rules whose
    `fills_intrabar` is True (stop / take-profit levels reached *inside* the bar)
    run first: their levels are hit before the close at which the other rules
    decide. A rule must only close positions for which
    `state.portfolio.is_closable(id)` holds: a position closed (or being closed)
    by an earlier rule on the same bar is not closed again.
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
