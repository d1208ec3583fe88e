"""`EntryRule` and `ExitRule`: the two kinds of rule a runner calls every bar."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from signalflow.core.order import Order
from signalflow.core.state import SkippedDecision, StrategyState

if TYPE_CHECKING:
    from signalflow.strategy.model.context import ModelContext
    from signalflow.strategy.runner.market_data import MarketData

__all__ = ["EntryRule", "ExitRule", "NoOrdersBefore", "promises_quiet_bars", "record_skip"]


class NoOrdersBefore(list):
    """An empty order list that also promises: no orders from this rule before bar `bar`
    (an index on the run's timestamp axis) while no position opens or closes.

    An exit rule whose class declares `promises_quiet_bars = True` may return it
    instead of `[]`; the runner then does not call the rule again in that run until
    bar `bar` or until a position opens or closes (`portfolio.version` changes),
    whichever comes first. From any other rule (e.g. a subclass or wrapper that
    passes on what `TakeProfitStopLossExit` returned) it is an ordinary list: its
    orders, if any were added to it, are submitted and the rule is asked every bar.
    """

    __slots__ = ("bar",)

    def __init__(self, bar: int) -> None:
        super().__init__()
        self.bar = bar

    def __repr__(self) -> str:
        return f"NoOrdersBefore(bar={self.bar})" if not self else f"NoOrdersBefore(bar={self.bar}, orders={list(self)!r})"

    def __reduce__(self):
        return (type(self), (self.bar,), None, iter(self))


def promises_quiet_bars(rule: "ExitRule") -> bool:
    """True if the runner may act on a `NoOrdersBefore` from `rule.check_exits`: the class that
    defines the `check_exits` the runner calls declares `promises_quiet_bars = True` itself.

    A subclass that overrides `check_exits` (say, to add a time stop to the TP/SL rule's
    orders) does not inherit the promise: its own exits could come on any bar.
    """
    if "check_exits" in getattr(rule, "__dict__", {}):  # replaced on the instance
        return False
    for klass in type(rule).__mro__:
        if "check_exits" in klass.__dict__:
            return klass.__dict__.get("promises_quiet_bars", False) is True
    return False


class ExitRule(ABC):
    """Decides which open positions to close at a bar.

    Exit rules run in order, before entry rules, except that rules whose
    `fills_intrabar` is True (stop / take-profit levels reached *inside* the bar)
    run first: their levels are hit before the close at which the other rules
    decide. A rule must only close positions for which
    `state.portfolio.is_closable(id)` holds: a position closed (or being closed)
    by an earlier rule on the same bar is not closed again. A rule that knows it
    will close nothing for a while declares `promises_quiet_bars = True` on the class
    that defines its `check_exits` and returns `NoOrdersBefore(bar)` (see there).
    """

    #: True if this rule's orders fill inside the bar (at a level), before the bar's close.
    fills_intrabar: bool = False
    #: True if a `NoOrdersBefore` from this class's own `check_exits` is a promise the
    #: runner may act on (declared by the class that defines `check_exits`; not inherited).
    promises_quiet_bars: bool = False

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
