"""`EntryRule` and `ExitRule`: the two kinds of rule a runner calls every bar."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from signalflow.core.order import Order
from signalflow.core.state import SkippedDecision, StrategyState

if TYPE_CHECKING:
    from signalflow.data.market import MarketData
    from signalflow.strategy.model.context import ModelContext

__all__ = ["EntryRule", "ExitRule", "record_skip"]


class ExitRule(ABC):
    """Decides which open positions to close at a bar.

    Exit rules run in order, before entry rules, except that rules whose
    `fills_intrabar` is True (stop / take-profit levels reached *inside* the bar)
    run first: their levels are hit before the close at which the other rules
    decide. A rule must only close positions for which
    `state.portfolio.is_closable(id)` holds: a position closed (or being closed)
    by an earlier rule on the same bar is not closed again.

    A rule that can tell when it will next have something to do overrides
    `next_check_bar` (see there); the runner then skips it until that bar.
    """

    #: True if this rule's orders fill inside the bar (at a level), before the bar's close.
    fills_intrabar: bool = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        # The `next_check_bar` a class inherits speaks for the `check_exits` it was written
        # with. If the class (or a mixin before it) brings a newer `check_exits`, that one may
        # close positions on any bar: the class falls back to the default, "every bar".
        check_owner = next(k for k in cls.__mro__ if "check_exits" in k.__dict__)
        hook_owner = next(k for k in cls.__mro__ if "next_check_bar" in k.__dict__)
        if not issubclass(hook_owner, check_owner):
            cls.next_check_bar = ExitRule.next_check_bar

    def on_start(self, market: "MarketData") -> None:
        """Called once when a run starts, with the run's market arrays."""

    @abstractmethod
    def check_exits(self, context: "ModelContext", state: StrategyState) -> list[Order]:
        """Exit orders for this bar (filled per the runner's `fill_at`)."""

    def next_check_bar(self, context: "ModelContext", state: StrategyState) -> int | None:
        """The first bar (an index on the run's axis) at which `check_exits` may return
        orders, asked right after `check_exits` ran on `context`'s bar; None (the default)
        means "call me every bar".

        The promise holds while no position opens or closes: the runner does not call
        `check_exits` before that bar unless `state.portfolio.version` changes, and asks
        again whenever it calls it. A subclass that defines its own `check_exits` and not
        this method is called every bar (so adding exits to a rule that overrides this
        method stays correct without declaring anything).
        """
        return None


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
            action=decision.action.value,
            pair=decision.pair,
            position_id=decision.position_id,
            reason=reason,
        )
    )
