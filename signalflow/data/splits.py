"""Chronological train / validation / test splits of bars and their signals.

Splits cut the union timestamp axis (all pairs) into consecutive, non-overlapping
ranges; every bar and every signal goes with its timestamp, so no slice sees a bar of
a later slice. Inputs are expected to be validated (`validate_ohlcv`,
`validate_signals`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from signalflow.core.errors import ConfigError
from signalflow.core.times import as_utc_naive
from signalflow.core.values import is_finite_real
from signalflow.data.validation import empty_signals

__all__ = ["DataSlice", "DataSplit", "chronological_split", "slice_by_time"]


@dataclass(frozen=True, slots=True)
class DataSlice:
    """Bars and the signals at those bars for one contiguous time range."""

    raw_data: pl.DataFrame
    signals: pl.DataFrame

    @property
    def start(self) -> datetime | None:
        """First bar timestamp in the slice (inclusive), or None if it has no bars."""
        return self.raw_data.get_column("timestamp").min() if self.raw_data.height else None

    @property
    def end(self) -> datetime | None:
        """Last bar timestamp in the slice (inclusive), or None if it has no bars."""
        return self.raw_data.get_column("timestamp").max() if self.raw_data.height else None


@dataclass(frozen=True, slots=True)
class DataSplit:
    """Three consecutive, non-overlapping slices: `train` < `validation` < `test` in time."""

    train: DataSlice
    validation: DataSlice
    test: DataSlice


def slice_by_time(
    raw_data: pl.DataFrame,
    signals: pl.DataFrame | None,
    start: datetime | None,
    end: datetime | None,
) -> DataSlice:
    """Bars and signals with `start <= timestamp < end` (None means unbounded).

    Bounds are UTC: a naive datetime is UTC, an aware one is converted (never the
    machine's local zone), as the validated timestamps are naive UTC.
    """
    start = None if start is None else as_utc_naive(start)
    end = None if end is None else as_utc_naive(end)
    if start is not None and end is not None and not start < end:
        raise ConfigError(f"`start` must be < `end`, was start={start}, end={end}; swap or widen the range")
    cond = pl.lit(True)
    if start is not None:
        cond = cond & (pl.col("timestamp") >= start)
    if end is not None:
        cond = cond & (pl.col("timestamp") < end)
    sig = empty_signals() if signals is None else signals
    return DataSlice(raw_data=raw_data.filter(cond), signals=sig.filter(cond))


def chronological_split(
    raw_data: pl.DataFrame,
    signals: pl.DataFrame | None = None,
    *,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
) -> DataSplit:
    """Split bars (and signals) chronologically into train / validation / test.

    The distinct timestamps of all pairs are cut at `round(n * cumulative fraction)`;
    `fractions` are three positive numbers summing to 1 (fractions of timestamps, not
    of rows). Each slice gets at least one timestamp, else `ConfigError`.
    """
    if len(fractions) != 3:
        raise ConfigError(f"`fractions` must have 3 entries (train, validation, test), was {fractions!r}; "
                          f"pass e.g. `(0.6, 0.2, 0.2)`")
    if any(not is_finite_real(f) or f <= 0 for f in fractions):
        raise ConfigError(f"`fractions` must all be > 0, was {fractions!r}; pass e.g. `(0.6, 0.2, 0.2)`")
    if abs(sum(fractions) - 1.0) > 1e-9:
        raise ConfigError(f"`fractions` must sum to 1, was {fractions!r} (sum {sum(fractions)}); "
                          f"normalise them, e.g. `(0.6, 0.2, 0.2)`")
    times = raw_data.get_column("timestamp").unique().sort()
    n = times.len()
    cut1 = round(n * fractions[0])
    cut2 = round(n * (fractions[0] + fractions[1]))
    if not 0 < cut1 < cut2 < n:
        raise ConfigError(
            f"`fractions` must leave at least one timestamp per slice, was {fractions!r} with {n} timestamps; "
            f"use more bars or larger fractions"
        )
    t1, t2 = times[cut1], times[cut2]
    return DataSplit(
        train=slice_by_time(raw_data, signals, None, t1),
        validation=slice_by_time(raw_data, signals, t1, t2),
        test=slice_by_time(raw_data, signals, t2, None),
    )
