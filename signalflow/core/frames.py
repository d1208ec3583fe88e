"""`build_frame`: a polars frame with an exact schema, built from Python column lists."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from signalflow.core.errors import ExportError

__all__ = ["build_frame"]


def build_frame(columns: Sequence[Sequence[Any]], schema: pl.Schema, *, what: str) -> pl.DataFrame:
    """Build a frame with exactly `schema` from `columns` (one sequence per schema column).

    Time-zone-aware datetimes are converted to UTC, then stored naive. Raises
    `ExportError` naming the column when a value does not fit its dtype.
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
