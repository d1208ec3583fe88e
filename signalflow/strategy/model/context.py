"""`ModelContext`: everything a model may know at one bar, and nothing later."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping

from signalflow.core.position import Position
from signalflow.core.signals import Signals

if TYPE_CHECKING:
    from signalflow.core.portfolio import Portfolio

__all__ = ["ModelContext", "PendingOrders", "NO_PENDING_ORDERS", "context_with_pending"]


@dataclass(frozen=True, slots=True)
class PendingOrders:
    """Orders placed on earlier bars that still wait for their fill (`fill_at="next_open"`).

    - `entries`: entry orders waiting for the next open of their pair.
    - `closing`: ids of open positions whose exit order waits for the next open.

    With `fill_at="next_open"` an order fills at the open of its pair's next bar, so at
    a bar's decision time the orders still waiting are those of pairs that have had no
    bar since; with `fill_at="close"` nothing is ever pending. `ModelEntryRule` counts
    the waiting entries and closes against `max_positions` (`Portfolio.projected_open_count`)
    and `ModelExitRule` skips a CLOSE of a position in `closing` (`Portfolio.is_closable`).
    """

    entries: int = 0
    closing: frozenset[str] = frozenset()

    @classmethod
    def of(cls, portfolio: "Portfolio") -> "PendingOrders":
        """A snapshot of `portfolio`'s pending orders (`pending_entries`, `pending_close`)."""
        if not portfolio.pending_entries and not portfolio.pending_close:
            return NO_PENDING_ORDERS
        return cls(entries=portfolio.pending_entries, closing=frozenset(portfolio.pending_close))


#: Nothing pending (the default of `ModelContext.pending`).
NO_PENDING_ORDERS = PendingOrders()


@dataclass(frozen=True, slots=True)
class ModelContext:
    """The view of one bar handed to `StrategyModel.decide`.

    Everything in it is known at the close of bar `timestamp`:

    - `signals`: this bar's signals only.
    - `prices`: close of every pair that has a bar at `timestamp` (the pairs that
      can be traded now), as a read-only mapping; a pair without a bar keeps its
      last price for marking but is absent here.
    - `positions`: open positions at the start of the bar, marked to this bar's close
      (including those whose exit order is still pending, see `pending`).
    - `metrics`: portfolio metrics at this bar's close, before this bar's trades
      (keys: `signalflow.strategy.metrics.METRIC_NAMES`).
    - `runtime`: the run's free-form state (regime, ATR, ...).
    - `bar_index`: index of the bar on the run's timestamp axis.
    - `pending`: orders of earlier bars still waiting for a next open (`PendingOrders`;
      set by the model rules when the model is asked to decide, see `context_with_pending`).

    `projected_open_count` and `is_closable` say what `ModelEntryRule` and
    `ModelExitRule` will count: the open positions once the pending orders fill,
    and whether a CLOSE of a position can still place an order.

    The runner builds one per bar. For a model's unit test, build one by hand:
    ``ModelContext(timestamp=ts, signals=Signals(frame))``; `prices`, `positions`,
    `metrics` and `runtime` default to empty, `pending` to nothing pending.
    Positions are read-only (see `Position`).
    """

    timestamp: datetime
    signals: Signals
    prices: Mapping[str, float] = field(default_factory=dict)
    positions: list[Position] = field(default_factory=list)
    metrics: Mapping[str, float] = field(default_factory=dict)
    runtime: dict[str, Any] = field(default_factory=dict)
    bar_index: int = 0
    pending: PendingOrders = NO_PENDING_ORDERS

    @property
    def projected_open_count(self) -> int:
        """Open positions once the pending orders fill: open - closing + entering
        (what `ModelEntryRule` compares with `max_positions`)."""
        pending = self.pending
        return len(self.positions) - len(pending.closing) + pending.entries

    def is_closable(self, position_id: str) -> bool:
        """True if `position_id` is an open position of this context without a pending exit order."""
        if position_id in self.pending.closing:
            return False
        return any(p.id == position_id for p in self.positions)


def context_with_pending(context: ModelContext, portfolio: "Portfolio") -> ModelContext:
    """`context` with `pending` set from `portfolio`'s pending orders (itself if nothing is pending).

    The model rules call it before `model.decide(context)` (`decisions_for`) and the
    environment before computing its action masks, so both see the same orders.
    """
    pending = PendingOrders.of(portfolio)
    if pending is context.pending or pending == context.pending:  # (most bars: NO_PENDING_ORDERS both)
        return context
    return dataclasses.replace(context, pending=pending)
