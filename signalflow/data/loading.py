"""Loading OHLCV bars and signals from DataFrames, CSV or parquet files.

Loaders read, then run the validators of `signalflow.data.validation`, so what they
return is normalised (`timestamp` Datetime("us") naive UTC, prices Float64, sorted by
(timestamp, pair)). CSV timestamps are parsed as datetimes (ISO 8601 text).
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from signalflow.core.errors import ConfigError, DataValidationError
from signalflow.data.validation import validate_ohlcv, validate_signals

__all__ = ["Source", "read_frame", "load_ohlcv", "load_signals"]

#: A polars DataFrame, or a path to a `.csv` or `.parquet` file.
Source = pl.DataFrame | str | os.PathLike[str]

_SUFFIXES = (".csv", ".parquet")


def read_frame(source: Source, *, name: str = "source") -> pl.DataFrame:
    """Read `source` into a DataFrame without validating it.

    A DataFrame is returned as is; a `.csv` is read with `try_parse_dates=True`; a
    `.parquet` with `pl.read_parquet`. Raises `ConfigError` for another type or
    extension and `DataValidationError` for a missing or unreadable file.
    """
    if isinstance(source, pl.DataFrame):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise ConfigError(
            f"`{name}` must be a polars DataFrame or a path to a .csv/.parquet file, "
            f"was {type(source).__name__}; pass `pl.DataFrame(...)` or a file path"
        )
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise ConfigError(
            f"`{name}` must be a path ending in .csv or .parquet, was '{path}'; "
            f"convert the file, e.g. `df.write_parquet(\"bars.parquet\")`"
        )
    if not path.is_file():
        raise DataValidationError(f"`{name}` must be an existing file, was '{path}' (not found); check the path")
    try:
        if suffix == ".csv":
            return pl.read_csv(path, try_parse_dates=True)
        return pl.read_parquet(path)
    except pl.exceptions.PolarsError as exc:  # unreadable content
        raise DataValidationError(
            f"`{name}` must be a readable {suffix[1:]} file, was '{path}' ({exc.__class__.__name__}: {exc}); "
            f"check the file contents"
        ) from exc


def load_ohlcv(source: Source) -> pl.DataFrame:
    """Load OHLCV bars from a DataFrame, `.csv` or `.parquet` and validate them (see `validate_ohlcv`)."""
    return validate_ohlcv(read_frame(source, name="source"))


def load_signals(source: Source | None, *, ohlcv: pl.DataFrame) -> pl.DataFrame:
    """Load signals from a DataFrame, `.csv` or `.parquet` (or None: no signals) and validate them.

    `ohlcv` must already be validated (e.g. by `load_ohlcv`); see `validate_signals`.
    """
    if source is None:
        return validate_signals(None, ohlcv=ohlcv)
    return validate_signals(read_frame(source, name="source"), ohlcv=ohlcv)
