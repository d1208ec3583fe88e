"""Data: loading and validation of OHLCV bars and signals, a synthetic market with a
planted signal edge, and chronological splits. Timestamps are naive UTC bar times."""

from signalflow.data.loading import Source, load_ohlcv, load_signals, read_frame
from signalflow.data.splits import DataSlice, DataSplit, chronological_split, slice_by_time
from signalflow.data.synthetic import SyntheticMarket, make_synthetic_market, pair_names, planted_edge_report
from signalflow.data.validation import (
    OHLCV_REQUIRED_COLUMNS,
    PRICE_COLUMNS,
    SIGNAL_TYPES,
    SIGNALS_SCHEMA,
    empty_signals,
    normalise_ohlcv,
    validate_ohlcv,
    validate_signals,
)

__all__ = [
    "OHLCV_REQUIRED_COLUMNS",
    "PRICE_COLUMNS",
    "SIGNAL_TYPES",
    "SIGNALS_SCHEMA",
    "DataSlice",
    "DataSplit",
    "Source",
    "SyntheticMarket",
    "chronological_split",
    "empty_signals",
    "load_ohlcv",
    "load_signals",
    "make_synthetic_market",
    "normalise_ohlcv",
    "pair_names",
    "planted_edge_report",
    "read_frame",
    "slice_by_time",
    "validate_ohlcv",
    "validate_signals",
]
