"""`Portfolio`: cash and positions, with running totals kept O(1) per bar."""

from __future__ import annotations

from dataclasses import dataclass, field

from signalflow.core.errors import AccountingError
from signalflow.core.position import Position

__all__ = ["Portfolio"]


@dataclass(slots=True)
class Portfolio:
    """Cash (quote currency) and every position opened in a run.

    `positions` maps id -> `Position` for all positions, open or closed, in
    opening order; `open_positions()` lists the open ones. Only the broker
    changes a portfolio, through `add_position` and `close_position`.
    """

    cash: float
    positions: dict[str, Position] = field(default_factory=dict)
    fees_paid: float = 0.0
    realized_pnl: float = 0.0
    trades_closed: int = 0
    pending_close: set[str] = field(default_factory=set)
    pending_entries: int = 0
    #: Bumped whenever a position opens or closes (lets rules cache per-position work).
    version: int = 0
    _open: dict[str, Position] = field(default_factory=dict, repr=False)

    def open_positions(self) -> list[Position]:
        """Open positions, oldest first."""
        return list(self._open.values())

    @property
    def open_count(self) -> int:
        return len(self._open)

    @property
    def projected_open_count(self) -> int:
        """Open positions once pending orders fill (`fill_at="next_open"`): open - closing + entering."""
        return len(self._open) - len(self.pending_close) + self.pending_entries

    def closable_positions(self) -> list[Position]:
        """Open positions without an exit order already pending, oldest first."""
        if not self.pending_close:
            return list(self._open.values())
        return [p for p in self._open.values() if p.id not in self.pending_close]

    def is_closable(self, position_id: str) -> bool:
        """True if `position_id` is open and no exit order for it is pending."""
        return position_id in self._open and position_id not in self.pending_close

    def get_open(self, position_id: str) -> Position | None:
        """The open position with this id, or None (unknown or already closed)."""
        return self._open.get(position_id)

    @property
    def positions_value(self) -> float:
        """Marked value of open positions (see `Position.market_value`), added one by one in
        opening order: the runner's per-bar marking does the same additions, so metrics
        equity equals `equity` exactly. (Not `sum()`: from Python 3.12 it compensates
        rounding, and the last bits would differ.)"""
        total = 0.0
        for p in self._open.values():
            total += p.market_value
        return total

    @property
    def equity(self) -> float:
        """cash + marked value of open positions."""
        return self.cash + self.positions_value

    @property
    def unrealized_pnl(self) -> float:
        """Unrealised PnL of open positions, added one by one in opening order (as `positions_value`)."""
        total = 0.0
        for p in self._open.values():
            total += p.unrealized_pnl
        return total

    def add_position(self, position: Position, *, cash_cost: float, fee: float) -> None:
        """Book a newly filled position: `cash_cost` (notional + fee) leaves cash."""
        if position.id in self.positions:
            raise AccountingError(f"position id `{position.id}` already exists; ids must be unique")
        if cash_cost > self.cash * (1.0 + 1e-12) + 1e-9:
            raise AccountingError(
                f"opening `{position.id}` needs {cash_cost:.6f} cash, only {self.cash:.6f} is free"
            )
        self.cash -= cash_cost
        self.fees_paid += fee
        self.positions[position.id] = position
        self._open[position.id] = position
        self.version += 1

    def close_position(self, position_id: str, *, cash_released: float, fee: float, pnl: float) -> None:
        """Book the close of an open position (see `Position.close`)."""
        if self._open.pop(position_id, None) is None:
            raise AccountingError(f"position `{position_id}` is not open; it cannot be closed")
        self.cash += cash_released
        self.fees_paid += fee
        self.realized_pnl += pnl
        self.trades_closed += 1
        self.version += 1
