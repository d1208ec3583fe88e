"""Fixed polars schemas of the exported files, and `trades_frame`.

Money is in quote currency, quantities in base units, fractions are plain
floats (0.05 == 5%). Timestamps are `Datetime("us")` without a time zone:
time-zone-aware datetimes are converted to UTC, then stored naive.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl

from signalflow.core.errors import ExportError
from signalflow.core.trade import Trade
from signalflow.strategy.metrics import METRIC_NAMES

__all__ = ["TRADES_SCHEMA", "BARS_SCHEMA", "METRIC_COLUMN_PREFIX", "trades_frame", "build_frame"]

#: Prefix of the per-bar metric columns of `bars.parquet` (`metric_equity`, ...).
METRIC_COLUMN_PREFIX = "metric_"

#: One row per position (`trades.parquet`), in the field order of `signalflow.core.Trade`.
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

#: One row per (bar, signal) (`bars.parquet`); a bar without signals has one row
#: with null `pair`, `signal_type` and `probability`, so every bar appears.
BARS_SCHEMA: pl.Schema = pl.Schema(
    [
        ("timestamp", pl.Datetime("us")),
        ("pair", pl.String()),
        ("signal_type", pl.String()),
        ("probability", pl.Float64()),
        *((f"{METRIC_COLUMN_PREFIX}{name}", pl.Float64()) for name in METRIC_NAMES),
    ]
)


def build_frame(columns: Sequence[Sequence[Any]], schema: pl.Schema, *, what: str) -> pl.DataFrame:
    """Build a frame with exactly `schema` from `columns` (one sequence per schema column).

    Raises `ExportError` naming the column when a value does not fit its dtype.
    """
    series: list[pl.Series] = []
    for (name, dtype), values in zip(schema.items(), columns, strict=True):
        try:
            s = pl.Series(name, values, dtype=dtype)
            if isinstance(dtype, pl.Datetime) and s.dtype != dtype:
                # tz-aware datetimes come back as Datetime("us", tz): store UTC, naive.
                s = s.dt.convert_time_zone("UTC").dt.replace_time_zone(None).cast(dtype)
        except Exception as exc:  # polars raises TypeError / various ComputeErrors
            raise ExportError(
                f"column `{name}` of the {what} must hold {dtype} values, was not convertible "
                f"({type(exc).__name__}: {exc}); fix the values passed to the exporter"
            ) from exc
        series.append(s)
    return pl.DataFrame(series)


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

