"""Training-data export: `bars.parquet` and `trades.parquet` with fixed schemas.

See `BacktestExporter`; `write_parquet_atomic` is shared by every export.
"""

from signalflow.strategy.exporter.atomic import write_parquet_atomic, write_parquets_atomic
from signalflow.strategy.exporter.backtest_exporter import BacktestExporter
from signalflow.strategy.exporter.schema import BARS_SCHEMA, TRADES_SCHEMA, trades_frame

__all__ = [
    "BacktestExporter",
    "BARS_SCHEMA",
    "TRADES_SCHEMA",
    "trades_frame",
    "write_parquet_atomic",
    "write_parquets_atomic",
]
