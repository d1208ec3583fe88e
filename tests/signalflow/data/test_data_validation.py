"""Tests of `validate_ohlcv` and `validate_signals`: normalisation and every error case."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import polars as pl
import pytest

from signalflow.core.errors import DataValidationError
from signalflow.data import SIGNALS_SCHEMA, validate_ohlcv, validate_signals

T0 = datetime(2024, 1, 1)


def ts(k: int) -> datetime:
    return T0 + timedelta(minutes=k)


def bars(n: int = 3, pairs: tuple[str, ...] = ("A", "B")) -> pl.DataFrame:
    """Valid bars sorted by (timestamp, pair): open 100, close 101, high 102, low 99."""
    rows = [
        {"pair": p, "timestamp": ts(k), "open": 100.0, "high": 102.0, "low": 99.0, "close": 101.0, "volume": 1.0}
        for k in range(n)
        for p in pairs
    ]
    return pl.DataFrame(rows)


def with_value(df: pl.DataFrame, row: int, column: str, value: object) -> pl.DataFrame:
    return df.with_columns(
        pl.when(pl.int_range(pl.len()) == row).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
    )


def exact(msg: str) -> str:
    return f"^{re.escape(msg)}$"


def sigs(rows: list[tuple[str, datetime, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["pair", "timestamp", "signal_type", "probability"], orient="row")


# --------------------------------------------------------------------------- OHLCV: success


def test_validate_ohlcv_valid_input_returns_canonical_dtypes():
    out = validate_ohlcv(bars())
    assert out.schema == pl.Schema(
        {
            "pair": pl.String,
            "timestamp": pl.Datetime("us"),
            "open": pl.Float64,
            "high": pl.Float64,
            "low": pl.Float64,
            "close": pl.Float64,
            "volume": pl.Float64,
        }
    )


def test_validate_ohlcv_missing_volume_adds_zero_volume():
    out = validate_ohlcv(bars().drop("volume"))
    assert out["volume"].to_list() == [0.0] * 6


def test_validate_ohlcv_per_pair_blocks_returns_sorted_by_timestamp_then_pair():
    df = bars().sort("pair", "timestamp")
    out = validate_ohlcv(df)
    assert out.select("pair", "timestamp").rows() == bars().select("pair", "timestamp").rows()


def test_validate_ohlcv_tz_aware_timestamps_returns_naive_utc():
    df = bars().with_columns(pl.col("timestamp").dt.replace_time_zone("Europe/Berlin"))
    out = validate_ohlcv(df)
    assert out.schema["timestamp"] == pl.Datetime("us")
    assert out["timestamp"][0] == datetime(2023, 12, 31, 23, 0)


def test_validate_ohlcv_date_timestamps_returns_datetime():
    df = pl.DataFrame(
        {"pair": ["A", "A"], "timestamp": [date(2024, 1, 1), date(2024, 1, 2)], "open": [1, 1],
         "high": [1, 1], "low": [1, 1], "close": [1, 1]}
    )
    out = validate_ohlcv(df)
    assert out["timestamp"].to_list() == [datetime(2024, 1, 1), datetime(2024, 1, 2)]
    assert out.schema["open"] == pl.Float64


def test_validate_ohlcv_nanosecond_timestamps_returns_microseconds():
    df = bars().with_columns(pl.col("timestamp").dt.cast_time_unit("ns"))
    assert validate_ohlcv(df).schema["timestamp"] == pl.Datetime("us")



def test_validate_ohlcv_sub_microsecond_timestamp_is_named_not_reported_as_a_duplicate():
    """Bars 500 ns apart used to be cut to the same microsecond and then refused as repeated."""
    ns = bars()["timestamp"].dt.epoch("ns").to_list()
    ns[3] = ns[0] + 500  # pair B's second bar, 500 ns after its first
    df = bars().with_columns(pl.Series("timestamp", ns).cast(pl.Datetime("ns")))
    msg = ("`timestamp` must be whole microseconds (bars are timed in microseconds), was 2024-01-01 "
           "00:00:00.000000500 (row 3, pair B) in a nanosecond column; round the times to your bar interval, e.g. "
           '`df.with_columns(pl.col("timestamp").dt.round("1s"))`')
    with pytest.raises(DataValidationError, match=exact(msg)):
        validate_ohlcv(df)
    one_ns_late = pl.Series("timestamp", [ts(1)]).dt.epoch("ns") + 1
    signals = sigs([("A", ts(1), "rise", 0.9)]).with_columns(one_ns_late.cast(pl.Datetime("ns")))
    with pytest.raises(DataValidationError, match=r"^`timestamp` must be whole microseconds .* \(row 0, pair A\)"):
        validate_signals(signals, ohlcv=validate_ohlcv(bars()))

def test_validate_ohlcv_extra_columns_are_kept():
    out = validate_ohlcv(bars().with_columns(pl.lit(1).alias("trades")))
    assert out.columns[-1] == "trades"


def test_validate_ohlcv_input_is_not_modified():
    df = bars().sort("pair", "timestamp")
    before = df.clone()
    validate_ohlcv(df)
    assert df.equals(before)


# --------------------------------------------------------------------------- OHLCV: errors


def test_validate_ohlcv_empty_frame_raises():
    df = bars().clear()
    msg = (
        "`df` must have at least one bar, was empty (0 rows, columns "
        "['pair', 'timestamp', 'open', 'high', 'low', 'close', 'volume']); "
        "pass OHLCV bars with columns ['pair', 'timestamp', 'open', 'high', 'low', 'close']"
    )
    with pytest.raises(DataValidationError, match=exact(msg)):
        validate_ohlcv(df)


def test_validate_ohlcv_missing_columns_raises_listing_them():
    df = bars().drop("high", "low")
    with pytest.raises(DataValidationError, match=r"was missing `high`, `low` \(columns present: "):
        validate_ohlcv(df)


def test_validate_ohlcv_integer_timestamp_raises_with_conversion_hint():
    df = bars().with_columns(pl.col("timestamp").dt.epoch("ms"))
    msg = (
        "`timestamp` must be a Datetime or Date column, was Int64; convert epoch numbers with "
        '`df.with_columns(pl.from_epoch("timestamp", time_unit="ms"))` (use the right `time_unit`)'
    )
    with pytest.raises(DataValidationError, match=exact(msg)):
        validate_ohlcv(df)


def test_validate_ohlcv_string_timestamp_raises_with_conversion_hint():
    df = bars().with_columns(pl.col("timestamp").cast(pl.String))
    msg = (
        "`timestamp` must be a Datetime or Date column, was String; convert it with "
        '`df.with_columns(pl.col("timestamp").str.to_datetime())`'
    )
    with pytest.raises(DataValidationError, match=exact(msg)):
        validate_ohlcv(df)


def test_validate_ohlcv_string_price_raises():
    df = bars().with_columns(pl.col("close").cast(pl.String))
    with pytest.raises(DataValidationError, match=r"^`close` must be a numeric column, was String; "):
        validate_ohlcv(df)


def test_validate_ohlcv_null_raises_naming_row_and_pair():
    df = with_value(bars(), 3, "low", None)
    msg = "`low` must not be null, was null (row 3, pair B); drop or fill those rows, e.g. `df.drop_nulls()`"
    with pytest.raises(DataValidationError, match=exact(msg)):
        validate_ohlcv(df)


def test_validate_ohlcv_nan_raises_naming_row_and_pair():
    df = with_value(bars(), 2, "close", float("nan"))
    with pytest.raises(DataValidationError, match=r"^`close` must be finite, was nan \(row 2, pair A\); "):
        validate_ohlcv(df)


def test_validate_ohlcv_inf_raises_naming_row_and_pair():
    df = with_value(bars(), 4, "open", float("inf"))
    with pytest.raises(DataValidationError, match=r"^`open` must be finite, was inf \(row 4, pair A\); "):
        validate_ohlcv(df)


def test_validate_ohlcv_first_offending_row_is_reported():
    df = with_value(with_value(bars(), 5, "close", float("nan")), 1, "open", float("nan"))
    with pytest.raises(DataValidationError, match=r"\(row 1, pair B\)"):
        validate_ohlcv(df)


def test_validate_ohlcv_non_positive_price_raises():
    df = with_value(with_value(bars(), 1, "low", 0.0), 1, "open", 0.0)
    df = with_value(df, 1, "close", 0.0)
    msg = "`open` must be > 0, was 0.0 (row 1, pair B); prices must be strictly positive: fix or drop that bar"
    with pytest.raises(DataValidationError, match=exact(msg)):
        validate_ohlcv(df)


def test_validate_ohlcv_high_below_body_raises():
    df = with_value(bars(), 2, "high", 100.5)
    msg = (
        "`high` must satisfy high >= max(open, close), was 100.5 vs 101.0 (open=100.0, close=101.0) "
        "(row 2, pair A); fix or drop that bar"
    )
    with pytest.raises(DataValidationError, match=exact(msg)):
        validate_ohlcv(df)


def test_validate_ohlcv_low_above_body_raises():
    df = with_value(bars(), 0, "low", 100.5)
    msg = (
        "`low` must satisfy low <= min(open, close), was 100.5 vs 100.0 (open=100.0, close=101.0) "
        "(row 0, pair A); fix or drop that bar"
    )
    with pytest.raises(DataValidationError, match=exact(msg)):
        validate_ohlcv(df)


def test_validate_ohlcv_negative_volume_raises():
    df = with_value(bars(), 1, "volume", -1.0)
    with pytest.raises(DataValidationError, match=exact("`volume` must be >= 0, was -1.0 (row 1, pair B); fix or drop that bar")):
        validate_ohlcv(df)


def test_validate_ohlcv_duplicate_pair_timestamp_raises():
    df = pl.concat([bars(), bars().slice(2, 1)])
    msg = (
        "`timestamp` must be unique per pair, was 2024-01-01 00:01:00 repeated (row 6, pair A); "
        'drop duplicates with `df.unique(["pair", "timestamp"], keep="first", maintain_order=True)`'
    )
    with pytest.raises(DataValidationError, match=exact(msg)):
        validate_ohlcv(df)


def test_validate_ohlcv_unsorted_within_pair_raises_with_sort_hint():
    df = bars()
    df = pl.concat([df.slice(2, 4), df.slice(0, 2)])  # bars of minute 1, 2, then 0
    msg = (
        "`timestamp` must be strictly increasing within each pair, was 2024-01-01 00:00:00 after "
        '2024-01-01 00:02:00 (row 4, pair A); sort the input with `df.sort("pair", "timestamp")`'
    )
    with pytest.raises(DataValidationError, match=exact(msg)):
        validate_ohlcv(df)


# --------------------------------------------------------------------------- signals: success


@pytest.mark.parametrize(
    "unvalidated",
    [lambda df: df.with_columns(pl.col("timestamp").dt.cast_time_unit("ns")),
     lambda df: df.with_columns(pl.col("timestamp").dt.replace_time_zone("America/New_York"))],
    ids=["ns", "tz"],
)
def test_validate_signals_refuses_ohlcv_that_was_not_validated(unvalidated):
    raw = unvalidated(validate_ohlcv(bars()))
    with pytest.raises(DataValidationError, match=r"^`ohlcv` must be validated OHLCV bars \(`timestamp` Datetime\(us\) "
                                                  r"naive UTC, `pair` String\), had `timestamp` Datetime\(.*; pass the result "
                                                  r"of load_ohlcv\(...\) or validate_ohlcv\(...\)$"):
        validate_signals(None, ohlcv=raw)


def test_validate_signals_none_returns_empty_canonical_frame():
    out = validate_signals(None, ohlcv=validate_ohlcv(bars()))
    assert out.height == 0 and out.schema == pl.Schema(SIGNALS_SCHEMA)


def test_validate_signals_empty_frame_returns_empty_canonical_frame():
    empty = pl.DataFrame(schema={"pair": pl.String, "timestamp": pl.String, "signal_type": pl.String,
                                 "probability": pl.Int64})
    out = validate_signals(empty, ohlcv=validate_ohlcv(bars()))
    assert out.height == 0 and out.schema == pl.Schema(SIGNALS_SCHEMA)


def test_validate_signals_valid_input_returns_sorted_stable_with_extras():
    s = sigs([("B", ts(1), "rise", 0.9), ("A", ts(1), "fall", 1), ("A", ts(0), "none", 0.0),
              ("A", ts(1), "rise", 0.6)]).with_columns(pl.Series("k", [0, 1, 2, 3]))
    out = validate_signals(s, ohlcv=validate_ohlcv(bars()))
    assert out["k"].to_list() == [2, 1, 3, 0]
    assert out.schema["probability"] == pl.Float64


def test_validate_signals_categorical_signal_type_is_accepted():
    s = sigs([("A", ts(0), "rise", 0.7)]).with_columns(pl.col("signal_type").cast(pl.Categorical))
    out = validate_signals(s, ohlcv=validate_ohlcv(bars()))
    assert out.schema["signal_type"] == pl.String


# --------------------------------------------------------------------------- signals: errors


def test_validate_signals_missing_columns_raises():
    s = sigs([("A", ts(0), "rise", 0.7)]).drop("probability")
    with pytest.raises(DataValidationError, match=r"^signals must have columns .* was missing `probability` "):
        validate_signals(s, ohlcv=validate_ohlcv(bars()))


def test_validate_signals_unknown_signal_type_raises():
    s = sigs([("A", ts(0), "rise", 0.7), ("B", ts(0), "buy", 0.7)])
    msg = (
        "`signal_type` must be one of ['rise', 'fall', 'none'], was 'buy' (row 1, pair B); map your labels, "
        'e.g. `pl.col("signal_type").replace({"buy": "rise", "sell": "fall"})`'
    )
    with pytest.raises(DataValidationError, match=exact(msg)):
        validate_signals(s, ohlcv=validate_ohlcv(bars()))


def test_validate_signals_null_probability_raises():
    s = sigs([("A", ts(0), "rise", None)])
    with pytest.raises(DataValidationError, match=r"^`probability` must not be null, was null \(row 0, pair A\)"):
        validate_signals(s, ohlcv=validate_ohlcv(bars()))


def test_validate_signals_nan_probability_raises():
    s = sigs([("A", ts(0), "rise", float("nan"))])
    with pytest.raises(DataValidationError, match=r"^`probability` must be finite, was nan \(row 0, pair A\)"):
        validate_signals(s, ohlcv=validate_ohlcv(bars()))


def test_validate_signals_probability_above_one_raises():
    s = sigs([("A", ts(0), "rise", 1.5)])
    msg = ("`probability` must be in [0, 1], was 1.5 (row 0, pair A); rescale or clip it, "
           'e.g. `pl.col("probability").clip(0, 1)`')
    with pytest.raises(DataValidationError, match=exact(msg)):
        validate_signals(s, ohlcv=validate_ohlcv(bars()))


def test_validate_signals_unknown_pair_raises():
    s = sigs([("A", ts(0), "rise", 0.7), ("ZZZ", ts(0), "rise", 0.7)])
    msg = ("`pair` must be a pair of the OHLCV data, was 'ZZZ' (row 1); known pairs: ['A', 'B']; "
           "drop signals of other pairs or add their bars")
    with pytest.raises(DataValidationError, match=exact(msg)):
        validate_signals(s, ohlcv=validate_ohlcv(bars()))


def test_validate_signals_outside_data_range_raises():
    s = sigs([("A", ts(0), "rise", 0.7), ("B", ts(10), "rise", 0.7)])
    msg = ("`timestamp` must be within the data range of its pair [2024-01-01 00:00:00, 2024-01-01 00:02:00], "
           "was 2024-01-01 00:10:00 (row 1, pair B); drop signals outside the data or align signals to bar timestamps")
    with pytest.raises(DataValidationError, match=exact(msg)):
        validate_signals(s, ohlcv=validate_ohlcv(bars()))


def test_validate_signals_between_bars_raises_with_align_hint():
    s = sigs([("A", ts(0) + timedelta(seconds=30), "rise", 0.7)])
    with pytest.raises(DataValidationError, match=r"^`timestamp` must be a bar timestamp of its pair, was "
                       r"2024-01-01 00:00:30 \(row 0, pair A\); align signals to bar timestamps"):
        validate_signals(s, ohlcv=validate_ohlcv(bars()))


def test_validate_signals_timestamp_where_pair_has_no_bar_raises():
    ohlcv = validate_ohlcv(bars().filter(~((pl.col("pair") == "B") & (pl.col("timestamp") == ts(1)))))
    s = sigs([("A", ts(1), "rise", 0.7), ("B", ts(1), "rise", 0.7)])
    with pytest.raises(DataValidationError, match=r"^`timestamp` must be a bar timestamp of its pair, was "
                       r"2024-01-01 00:01:00 \(row 1, pair B\)"):
        validate_signals(s, ohlcv=ohlcv)


def test_validate_signals_in_percent_are_told_to_divide_not_clip():
    s = sigs([("A", ts(0), "rise", 54.6), ("A", ts(1), "fall", 0.5)])
    with pytest.raises(DataValidationError, match=r"was 54\.6 \(row 0, pair A\); they look like percentages: divide "
                                                  r"them by 100, e\.g\. `pl\.col\(\"probability\"\) / 100`$"):
        validate_signals(s, ohlcv=validate_ohlcv(bars()))


@pytest.mark.parametrize("scale, unit", [(1, "s"), (1_000, "ms"), (1_000_000, "us"), (1_000_000_000, "ns")])
def test_epoch_number_timestamps_are_refused_with_the_unit_their_size_suggests(scale, unit):
    import polars as pl

    seconds = [1_704_067_200 + 60 * i for i in range(3)]  # 2024-01-01 in epoch seconds
    df = pl.DataFrame({"pair": ["A"] * 3, "timestamp": [v * scale for v in seconds], "open": [1.0] * 3,
                       "high": [1.0] * 3, "low": [1.0] * 3, "close": [1.0] * 3})
    with pytest.raises(DataValidationError, match=rf'time_unit="{unit}"\)\)` \(use the right `time_unit`\)$'):
        validate_ohlcv(df)
