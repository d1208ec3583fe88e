"""`MarketData.index_of` and `MarketData.covers`: from a datetime to the market's bar axis."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from signalflow.data.market import MarketData

T0 = datetime(2024, 1, 1)


def _market(minutes: list[int]) -> MarketData:
    ts = [T0 + timedelta(minutes=m) for m in minutes]
    n = len(ts)
    bars = pl.DataFrame({"pair": ["A"] * n, "timestamp": ts, "open": [1.0] * n, "high": [1.0] * n,
                         "low": [1.0] * n, "close": [1.0] * n, "volume": [1.0] * n})
    return MarketData.build(bars.with_columns(pl.col("timestamp").cast(pl.Datetime("us"))))


def test_index_of_is_the_first_bar_at_or_after_and_n_bars_past_the_end():
    market = _market([0, 1, 5, 6])
    assert [market.index_of(T0 + timedelta(minutes=m)) for m in (-3, 0, 1, 2, 5, 6, 7)] == [0, 0, 1, 2, 2, 3, 4]
    assert market.index_of(T0 + timedelta(minutes=1, microseconds=1)) == 2


def test_covers_is_the_span_from_first_to_last_bar_inclusive_gaps_included():
    market = _market([0, 1, 5, 6])
    inside = [T0, T0 + timedelta(minutes=3), T0 + timedelta(minutes=6)]
    outside = [T0 - timedelta(microseconds=1), T0 + timedelta(minutes=6, microseconds=1), datetime(1970, 1, 1)]
    assert [market.covers(t) for t in inside] == [True, True, True]
    assert [market.covers(t) for t in outside] == [False, False, False]
