"""Momentum detectors: z-score of recent log returns and moving-average crosses.

Both use only bars up to and including t to decide a signal at t (rolling windows
per pair, no forward shifts), so a signal at bar t is known at the close of t.
Output follows `SIGNALS_SCHEMA` (`pair, timestamp, signal_type, probability`),
sorted by (timestamp, pair).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

from signalflow.core.errors import ConfigError
from signalflow.core.values import is_finite_real
from signalflow.data.validation import SIGNALS_SCHEMA, validate_ohlcv

__all__ = ["MomentumZScoreDetector", "MovingAverageCrossDetector", "PROBABILITY_CAP"]

#: Probabilities are capped at this value so they stay strictly below 1.
PROBABILITY_CAP: float = 0.999


def _finish(df: pl.DataFrame) -> pl.DataFrame:
    return df.select(list(SIGNALS_SCHEMA)).cast(SIGNALS_SCHEMA).sort(["timestamp", "pair"], maintain_order=True)


@dataclass(frozen=True, slots=True)
class MomentumZScoreDetector:
    """Signal when the last `window` bars' log return is unusually large.

    With r_t = log(close_t / close_{t-1}) per pair, S_t = sum of the last `window`
    returns and s_t their standard deviation, z_t = S_t / (s_t * sqrt(window)) (the
    t-statistic of the mean return). A "rise" is emitted at bar t when z_t > threshold,
    a "fall" when z_t < -threshold (needs `window` returns, i.e. t >= window; bars with
    s_t = 0 emit nothing). probability = min(1 - 0.5 * exp(-(|z| - threshold)), 0.999):
    monotone in |z|, in (0.5, 0.999].
    """

    window: int = 20
    threshold: float = 2.0

    def __post_init__(self) -> None:
        if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 2:
            raise ConfigError(f"`window` must be an integer >= 2, was {self.window!r}; pass e.g. `window=20`")
        if not is_finite_real(self.threshold) or self.threshold <= 0:
            raise ConfigError(f"`threshold` must be finite and > 0, was {self.threshold!r}; pass e.g. `threshold=2.0`")

    def detect(self, raw_data: pl.DataFrame) -> pl.DataFrame:
        """Signals for validated-or-raw OHLCV `raw_data` (validated here)."""
        bars = validate_ohlcv(raw_data)
        r = pl.col("close").log().diff()
        z = (r.rolling_sum(self.window) / (r.rolling_std(self.window) * math.sqrt(self.window))).over("pair")
        out = (
            bars.select("pair", "timestamp", z.alias("z"))
            .filter(pl.col("z").is_finite() & (pl.col("z").abs() > self.threshold))
            .with_columns(
                pl.when(pl.col("z") > 0).then(pl.lit("rise")).otherwise(pl.lit("fall")).alias("signal_type"),
                (1.0 - 0.5 * (-(pl.col("z").abs() - self.threshold)).exp())
                .clip(upper_bound=PROBABILITY_CAP)
                .alias("probability"),
            )
        )
        return _finish(out)


@dataclass(frozen=True, slots=True)
class MovingAverageCrossDetector:
    """Signal when the `fast` simple moving average of close crosses the `slow` one.

    "rise" at bar t when SMA_fast(t) > SMA_slow(t) and SMA_fast(t-1) <= SMA_slow(t-1);
    "fall" for the opposite cross (both need `slow` closes before t). probability =
    min(0.5 + 0.5 * tanh(|log(SMA_fast / SMA_slow)| / s_t), 0.999) with s_t the std of
    the last `slow` log returns: monotone in the normalised gap, in (0.5, 0.999].
    """

    fast: int = 10
    slow: int = 30

    def __post_init__(self) -> None:
        for name, value in (("fast", self.fast), ("slow", self.slow)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"`{name}` must be an integer >= 1, was {value!r}; pass e.g. `fast=10, slow=30`")
        if self.fast >= self.slow:
            raise ConfigError(
                f"`fast` must be < `slow`, was fast={self.fast}, slow={self.slow}; pass e.g. `fast=10, slow=30`"
            )

    def detect(self, raw_data: pl.DataFrame) -> pl.DataFrame:
        """Signals for validated-or-raw OHLCV `raw_data` (validated here)."""
        bars = validate_ohlcv(raw_data)
        diff = pl.col("close").rolling_mean(self.fast) - pl.col("close").rolling_mean(self.slow)
        gap = (pl.col("close").rolling_mean(self.fast) / pl.col("close").rolling_mean(self.slow)).log().abs()
        sigma = pl.col("close").log().diff().rolling_std(max(self.slow, 2))
        out = (
            bars.select(
                "pair",
                "timestamp",
                diff.over("pair").alias("d"),
                diff.shift(1).over("pair").alias("d_prev"),
                (gap / sigma).over("pair").alias("g"),
            )
            .filter(
                pl.col("d_prev").is_not_null()
                & pl.col("d").is_not_null()
                & (((pl.col("d") > 0) & (pl.col("d_prev") <= 0)) | ((pl.col("d") < 0) & (pl.col("d_prev") >= 0)))
            )
            .with_columns(
                pl.when(pl.col("d") > 0).then(pl.lit("rise")).otherwise(pl.lit("fall")).alias("signal_type"),
                (0.5 + 0.5 * pl.col("g").fill_nan(0.0).fill_null(0.0).tanh())
                .clip(lower_bound=0.5, upper_bound=PROBABILITY_CAP)
                .alias("probability"),
            )
        )
        return _finish(out)
