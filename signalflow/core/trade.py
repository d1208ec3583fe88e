"""`Trade`: the immutable record of one position's round trip."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from signalflow.core.position import Position
from signalflow.core.slots import direct_init

__all__ = ["Trade"]


@direct_init
@dataclass(frozen=True, slots=True)
class Trade:
    """A position from entry to exit (or to the last bar, if still open).

    `realized_pnl` is gross; `net_pnl` subtracts all fees. `return_pct` is
    `net_pnl / (qty * entry_price)`.
    """

    position_id: str
    pair: str
    position_type: str
    entry_time: datetime
    exit_time: datetime | None
    entry_price: float
    exit_price: float | None
    qty: float
    realized_pnl: float
    unrealized_pnl: float
    fees: float
    net_pnl: float
    return_pct: float
    exit_reason: str | None
    is_closed: bool
    bars_held: int
    last_price: float

    @classmethod
    def from_position(cls, position: Position, *, last_bar: int) -> "Trade":
        """Snapshot `position`; an open one is held until `last_bar`."""
        end_bar = position.exit_bar if position.exit_bar is not None else last_bar
        net = position.net_pnl
        return cls(
            position_id=position.id,
            pair=position.pair,
            position_type=position.position_type.value,
            entry_time=position.entry_time,
            exit_time=position.exit_time,
            entry_price=position.entry_price,
            exit_price=position.exit_price,
            qty=position.qty,
            realized_pnl=position.realized_pnl,
            unrealized_pnl=position.unrealized_pnl,
            fees=position.fees_paid,
            net_pnl=net,
            return_pct=net / position.entry_notional if position.entry_notional > 0 else 0.0,
            exit_reason=position.exit_reason,
            is_closed=position.is_closed,
            bars_held=end_bar - position.entry_bar,
            last_price=position.last_price,
        )
