"""`Trade`: the immutable record of one position's round trip, and `trades_frame` of many."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from signalflow.core.errors import ExportError
from signalflow.core.frames import build_frame
from signalflow.core.position import Position

__all__ = ["Trade", "TRADES_SCHEMA", "trades_frame"]


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
        notional = position.entry_notional
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
            return_pct=net / notional if notional > 0 else 0.0,
            exit_reason=position.exit_reason,
            is_closed=position.is_closed,
            bars_held=end_bar - position.entry_bar,
            last_price=position.last_price,
        )


#: One row per position (`trades_df`, `trades.parquet`), in the field order of `Trade`.
#: `exit_time`, `exit_price` and `exit_reason` are null while the position is open.
TRADES_SCHEMA: pl.Schema = pl.Schema(
    [
        ("position_id", pl.String()),
        ("pair", pl.String()),
        ("position_type", pl.String()),  # "long" | "short"
        ("entry_time", pl.Datetime("us")),
        ("exit_time", pl.Datetime("us")),
        ("entry_price", pl.Float64()),
        ("exit_price", pl.Float64()),
        ("qty", pl.Float64()),  # base units, > 0
        ("realized_pnl", pl.Float64()),  # gross, quote currency
        ("unrealized_pnl", pl.Float64()),  # gross, quote currency (0.0 once closed)
        ("fees", pl.Float64()),  # entry + exit fees, quote currency
        ("net_pnl", pl.Float64()),  # realized + unrealized - fees
        ("return_pct", pl.Float64()),  # net_pnl / (qty * entry_price), a fraction
        ("exit_reason", pl.String()),
        ("is_closed", pl.Boolean()),
        ("bars_held", pl.Int64()),
        ("last_price", pl.Float64()),
    ]
)

_TRADE_FIELDS: tuple[str, ...] = tuple(TRADES_SCHEMA.names())


def trades_frame(trades: Iterable[Trade]) -> pl.DataFrame:
    """One row per `Trade`, with exactly `TRADES_SCHEMA` (also when `trades` is empty).

    Built column-wise (one Python list per field), so 100k trades take well
    under a second.
    """
    rows = trades if isinstance(trades, (list, tuple)) else list(trades)
    for i, t in enumerate(rows):
        if not isinstance(t, Trade):
            raise ExportError(
                f"`trades[{i}]` must be a signalflow.core.Trade, was {type(t).__name__}; "
                f"snapshot positions with `Trade.from_position(position, last_bar=...)`"
            )
    columns = [[getattr(t, name) for t in rows] for name in _TRADE_FIELDS]
    return build_frame(columns, TRADES_SCHEMA, what="trades frame")
