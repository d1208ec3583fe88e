"""Fixed polars schemas of the exported files, and `trades_frame`.

Money is in quote currency, quantities in base units, fractions are plain
floats (0.05 == 5%). Timestamps are `Datetime("us")` without a time zone:
time-zone-aware datetimes are converted to UTC, then stored naive.
"""

from __future__ import annotations

import polars as pl

from signalflow.core.bar_metrics import METRIC_NAMES
from signalflow.core.frames import build_frame
from signalflow.core.trade import TRADES_SCHEMA, trades_frame

__all__ = ["TRADES_SCHEMA", "BARS_SCHEMA", "METRIC_COLUMN_PREFIX", "trades_frame", "build_frame"]

#: Prefix of the per-bar metric columns of `bars.parquet` (`metric_equity`, ...).
METRIC_COLUMN_PREFIX = "metric_"

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
