"""`Position`: one long or short holding, changed only by the broker applying fills."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from signalflow.core.enums import PositionType
from signalflow.core.errors import AccountingError

__all__ = ["Position"]


@dataclass(slots=True, eq=False)
class Position:
    """An open or closed position in one pair.

    Money is in quote currency. `qty` is in base units (always > 0; the side is
    `position_type`). `realized_pnl` and `unrealized_pnl` are *gross* price PnL;
    fees are tracked apart in `fees_paid` (entry + exit), so
    ``net_pnl = realized_pnl - fees_paid`` for a closed position.

    Shorts are collateralised on spot: opening a short locks ``qty * entry_price``
    of cash as collateral, and the position's marked value is that collateral
    plus its unrealised PnL.
    """

    id: str
    pair: str
    position_type: PositionType
    qty: float
    entry_price: float
    entry_time: datetime
    last_price: float
    last_time: datetime
    entry_bar: int = 0
    fees_paid: float = 0.0
    realized_pnl: float = 0.0
    is_closed: bool = False
    exit_price: float | None = None
    exit_time: datetime | None = None
    exit_bar: int | None = None
    exit_reason: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def side(self) -> int:
        """+1 for LONG, -1 for SHORT."""
        return 1 if self.position_type is PositionType.LONG else -1

    @property
    def unrealized_pnl(self) -> float:
        """Gross PnL of an open position at `last_price`; 0.0 once closed."""
        if self.is_closed:
            return 0.0
        return self.side * (self.last_price - self.entry_price) * self.qty

    @property
    def entry_notional(self) -> float:
        """qty * entry_price."""
        return self.qty * self.entry_price

    @property
    def market_value(self) -> float:
        """What the position adds to equity at `last_price` (0.0 once closed)."""
        if self.is_closed:
            return 0.0
        if self.position_type is PositionType.LONG:
            return self.qty * self.last_price
        return self.qty * (2.0 * self.entry_price - self.last_price)

    @property
    def net_pnl(self) -> float:
        """realized_pnl + unrealized_pnl - fees_paid."""
        return self.realized_pnl + self.unrealized_pnl - self.fees_paid

    def mark(self, price: float, time: datetime) -> None:
        """Mark the position to `price` at `time` (no cash moves)."""
        self.last_price = price
        self.last_time = time

    def close(self, *, price: float, time: datetime, bar: int, fee: float, reason: str) -> float:
        """Close the whole position at `price`; return the cash released to the portfolio.

        Raises `AccountingError` if the position is already closed: a position
        is never closed twice.
        """
        if self.is_closed:
            raise AccountingError(
                f"position `{self.id}` ({self.pair}) is already closed "
                f"(at bar {self.exit_bar}, reason {self.exit_reason!r}); it cannot be closed again"
            )
        pnl = self.side * (price - self.entry_price) * self.qty
        self.realized_pnl += pnl
        self.fees_paid += fee
        self.last_price = price
        self.last_time = time
        self.exit_price = price
        self.exit_time = time
        self.exit_bar = bar
        self.exit_reason = reason
        self.is_closed = True
        if self.position_type is PositionType.LONG:
            return self.qty * price - fee
        return self.qty * self.entry_price + pnl - fee
