"""Validation and normalisation of OHLCV bars and signals (polars, vectorised).

Both validators return a normalised copy and raise `DataValidationError` naming the
column, the first offending row (0-based, in the input order), the pair, the value and
the fix. Every check is a vectorised polars expression: 500k bars validate in well
under a second.

Normalised dtypes: `pair` String, `timestamp` Datetime("us") naive (UTC), prices and
`volume` Float64, `probability` Float64. Timestamps are bar timestamps; what a bar
holds is known at its close.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np
import polars as pl

from signalflow.core.enums import SignalType
from signalflow.core.errors import DataValidationError

__all__ = [
    "normalise_ohlcv",
    "OHLCV_REQUIRED_COLUMNS",
    "PRICE_COLUMNS",
    "SIGNAL_TYPES",
    "SIGNALS_SCHEMA",
    "validate_ohlcv",
    "validate_signals",
    "empty_signals",
]

#: Columns an OHLCV frame must have (`volume` is optional and defaults to 0.0).
OHLCV_REQUIRED_COLUMNS: tuple[str, ...] = ("pair", "timestamp", "open", "high", "low", "close")
#: Price columns, normalised to Float64, all strictly positive and finite.
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
#: Optional column of the bars: the bar's bid-ask spread in quote currency (>= 0).
SPREAD_COLUMN = "spread"
#: Allowed values of `signal_type`.
SIGNAL_TYPES: tuple[str, ...] = tuple(t.value for t in SignalType)
#: Canonical schema of a signals frame (extra columns may follow).
SIGNALS_SCHEMA: dict[str, pl.DataType] = {
    "pair": pl.String(),
    "timestamp": pl.Datetime("us"),
    "signal_type": pl.String(),
    "probability": pl.Float64(),
}

_ROW = "__sf_row"


def empty_signals() -> pl.DataFrame:
    """An empty signals frame with the canonical `SIGNALS_SCHEMA`."""
    return pl.DataFrame(schema=SIGNALS_SCHEMA)


# --------------------------------------------------------------------------- helpers


def _where(row: int, pair: Any) -> str:
    return f"(row {row}, pair {pair})"


def _missing_columns(df: pl.DataFrame, required: Iterable[str], what: str, example: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        listed = ", ".join(f"`{c}`" for c in missing)
        raise DataValidationError(
            f"{what} must have columns {list(required)}, was missing {listed} "
            f"(columns present: {df.columns}); rename or add them, e.g. {example}"
        )


def _epoch_unit(values: pl.Series) -> str:
    """The epoch unit whose dates the numbers' size fits best (1e9: seconds, 1e12: ms, ...)."""
    largest = values.abs().max()
    if largest is None or not largest > 0:
        return "ms"
    for unit, limit in (("s", 1e11), ("ms", 1e14), ("us", 1e17)):
        if largest < limit:
            return unit
    return "ns"


def _timestamp_expr(df: pl.DataFrame, column: str = "timestamp") -> pl.Expr:
    dtype = df.schema[column]
    col = pl.col(column)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return col.dt.cast_time_unit("us")
    if dtype == pl.Date or dtype == pl.Null:
        return col.cast(pl.Datetime("us"))
    if dtype == pl.String:
        fix = f'convert it with `df.with_columns(pl.col("{column}").str.to_datetime())`'
    elif dtype.is_integer() or dtype.is_float():
        unit = _epoch_unit(df.get_column(column))
        fix = (
            f'convert epoch numbers with `df.with_columns(pl.from_epoch("{column}", time_unit="{unit}"))` '
            "(use the right `time_unit`)"  # (`unit`: the one the numbers' size suggests)
        )
    else:
        fix = f'cast it with `pl.col("{column}").cast(pl.Datetime("us"))`'
    raise DataValidationError(f"`{column}` must be a Datetime or Date column, was {dtype}; {fix}")


def _check_whole_microseconds(df: pl.DataFrame, column: str = "timestamp") -> None:
    """A nanosecond Datetime column must hold whole microseconds: the bar axis is
    Datetime("us"), and cutting the rest off silently would merge or shift bars."""
    dtype = df.schema[column]
    if not (isinstance(dtype, pl.Datetime) and dtype.time_unit == "ns"):
        return
    hit = _first_violation(df, {column: pl.col(column).dt.epoch("ns") % 1000 != 0})
    if hit:
        _, row = hit
        shown = df[column].slice(row, 1).cast(pl.String)[0]  # (a datetime would drop the nanoseconds)
        raise DataValidationError(
            f"`{column}` must be whole microseconds (bars are timed in microseconds), was {shown} "
            f"{_where(row, df['pair'][row])} in a nanosecond column; round the times to your bar interval, e.g. "
            f'`df.with_columns(pl.col("{column}").dt.round("1s"))`'
        )


def _string_expr(df: pl.DataFrame, column: str) -> pl.Expr:
    dtype = df.schema[column]
    if dtype == pl.String or dtype == pl.Null or isinstance(dtype, (pl.Categorical, pl.Enum)):
        return pl.col(column).cast(pl.String)
    raise DataValidationError(
        f'`{column}` must be a string column, was {dtype}; cast it with `pl.col("{column}").cast(pl.String)`'
    )


def _float_expr(df: pl.DataFrame, column: str) -> pl.Expr:
    dtype = df.schema[column]
    if dtype.is_numeric() or dtype == pl.Null:
        return pl.col(column).cast(pl.Float64)
    raise DataValidationError(
        f'`{column}` must be a numeric column, was {dtype}; cast it with `pl.col("{column}").cast(pl.Float64)`'
    )


def _first_violation(df: pl.DataFrame, masks: Mapping[str, pl.Expr]) -> tuple[str, int] | None:
    """The (name, row) of the earliest True in any mask; ties go to the first mask."""
    if not masks:
        return None
    firsts = df.select(
        [mask.fill_null(False).arg_true().first().alias(name) for name, mask in masks.items()]
    ).row(0)
    best: tuple[str, int] | None = None
    for name, row in zip(masks, firsts):
        if row is not None and (best is None or row < best[1]):
            best = (name, int(row))
    return best


def _check_nulls(df: pl.DataFrame, columns: Iterable[str]) -> None:
    hit = _first_violation(df, {c: pl.col(c).is_null() for c in columns})
    if hit:
        col, row = hit
        raise DataValidationError(
            f"`{col}` must not be null, was null {_where(row, df['pair'][row])}; "
            f"drop or fill those rows, e.g. `df.drop_nulls()`"
        )


def _check_finite(df: pl.DataFrame, columns: Iterable[str]) -> None:
    hit = _first_violation(df, {c: ~pl.col(c).is_finite() for c in columns})
    if hit:
        col, row = hit
        raise DataValidationError(
            f"`{col}` must be finite, was {df[col][row]} {_where(row, df['pair'][row])}; "
            f"drop or fill those rows, e.g. `df.filter(pl.all_horizontal(pl.col(pl.Float64).is_finite()))`"
        )


# --------------------------------------------------------------------------- OHLCV


def validate_ohlcv(df: pl.DataFrame) -> pl.DataFrame:
    """Validate long-format OHLCV bars and return a normalised copy, sorted by
    (timestamp, pair): `normalise_ohlcv(df)` sorted. See there for the rules."""
    return normalise_ohlcv(df).sort(["timestamp", "pair"], maintain_order=True)


def normalise_ohlcv(df: pl.DataFrame) -> pl.DataFrame:
    """Validate long-format OHLCV bars and return them normalised, in input order
    (columns already of the right dtype are shared with `df`, not copied).

    Required columns: `pair, timestamp, open, high, low, close`; `volume` is optional
    (added as 0.0). Timestamps are bar timestamps (a bar is known at its close); the
    input must already be sorted by timestamp within each pair. Returns `pair` String,
    `timestamp` Datetime("us") naive UTC, prices/volume Float64; extra columns are
    kept after the canonical ones.

    An optional `spread` column (the bar's bid-ask spread in quote currency, used by
    `HalfSpreadSlippage(from_column=True)`) must be a finite number >= 0.

    Raises `DataValidationError` for an empty frame, missing columns, wrong dtypes,
    nulls, NaN/inf, non-positive prices, inconsistent high/low, negative volume,
    nanosecond timestamps that are not whole microseconds, duplicate (pair, timestamp)
    or timestamps not strictly increasing within a pair.
    """
    if not isinstance(df, pl.DataFrame):
        raise DataValidationError(
            f"`df` must be a polars DataFrame, was {type(df).__name__}; convert it with `pl.DataFrame(...)` "
            f"or `pl.from_pandas(...)`"
        )
    if df.height == 0:
        raise DataValidationError(
            f"`df` must have at least one bar, was empty (0 rows, columns {df.columns}); "
            f"pass OHLCV bars with columns {list(OHLCV_REQUIRED_COLUMNS)}"
        )
    _missing_columns(df, OHLCV_REQUIRED_COLUMNS, "OHLCV data", '`df.rename({"symbol": "pair", "time": "timestamp"})`')

    has_volume = "volume" in df.columns
    exprs = [_string_expr(df, "pair").alias("pair"), _timestamp_expr(df).alias("timestamp")]
    exprs += [_float_expr(df, c).alias(c) for c in PRICE_COLUMNS]
    exprs.append(_float_expr(df, "volume").alias("volume") if has_volume else pl.lit(0.0, pl.Float64).alias("volume"))
    canonical = [*OHLCV_REQUIRED_COLUMNS, "volume"]
    extras = [c for c in df.columns if c not in canonical]
    out = df.select([*exprs, *[pl.col(c) for c in extras]])

    value_cols = [*PRICE_COLUMNS, "volume"]
    _check_nulls(out, ["pair", "timestamp", *value_cols])
    _check_finite(out, value_cols)
    _check_whole_microseconds(df)

    if SPREAD_COLUMN in out.columns:  # optional: the bar's bid-ask spread (quote currency)
        out = out.with_columns(_float_expr(out, SPREAD_COLUMN).alias(SPREAD_COLUMN))
        _check_nulls(out, [SPREAD_COLUMN])
        _check_finite(out, [SPREAD_COLUMN])
        hit = _first_violation(out, {SPREAD_COLUMN: pl.col(SPREAD_COLUMN) < 0})
        if hit:
            _, row = hit
            raise DataValidationError(
                f"`spread` must be >= 0 (the bid-ask spread in quote currency), was {out[SPREAD_COLUMN][row]} "
                f"{_where(row, out['pair'][row])}; fix or drop that bar"
            )

    hit = _first_violation(out, {c: pl.col(c) <= 0 for c in PRICE_COLUMNS})
    if hit:
        col, row = hit
        raise DataValidationError(
            f"`{col}` must be > 0, was {out[col][row]} {_where(row, out['pair'][row])}; "
            f"prices must be strictly positive: fix or drop that bar"
        )

    # (two comparisons each rather than max/min_horizontal: no temporary price column)
    hit = _first_violation(
        out,
        {
            "high": (pl.col("high") < pl.col("open")) | (pl.col("high") < pl.col("close")),
            "low": (pl.col("low") > pl.col("open")) | (pl.col("low") > pl.col("close")),
        },
    )
    if hit:
        col, row = hit
        o, c, v = out["open"][row], out["close"][row], out[col][row]
        if col == "high":
            rule, bound = "high >= max(open, close)", max(o, c)
        else:
            rule, bound = "low <= min(open, close)", min(o, c)
        raise DataValidationError(
            f"`{col}` must satisfy {rule}, was {v} vs {bound} (open={o}, close={c}) "
            f"{_where(row, out['pair'][row])}; fix or drop that bar"
        )

    if has_volume:
        hit = _first_violation(out, {"volume": pl.col("volume") < 0})
        if hit:
            _, row = hit
            raise DataValidationError(
                f"`volume` must be >= 0, was {out['volume'][row]} {_where(row, out['pair'][row])}; "
                f"fix or drop that bar"
            )

    _check_increasing_within_pair(out)
    return out


def _pair_codes(pairs: pl.Series) -> tuple[dict[int, str], np.ndarray]:
    """Each row's pair as a small integer code (polars' categorical codes), and code -> pair."""
    categorical = pairs.cast(pl.Categorical)
    distinct = categorical.unique()
    names = dict(zip(distinct.to_physical().to_list(), distinct.cast(pl.String).to_list()))
    return names, categorical.to_physical().to_numpy()


def _check_increasing_within_pair(out: pl.DataFrame) -> None:
    """Raise for the first duplicate (pair, timestamp) or, if none, the first timestamp that is
    not after the previous one of its pair (rows in input order).

    Done pair by pair on numpy views (a few bytes per row at a time), not with a frame-wide
    hash or window, which would cost several times the frame's own memory on long data.
    """
    _, codes = _pair_codes(out["pair"])
    ts = out["timestamp"].to_physical().to_numpy()
    first_bad: int | None = None
    rows_of: list[np.ndarray] = []
    for code in np.unique(codes):
        rows = np.flatnonzero(codes == code)
        bad = np.flatnonzero(np.diff(ts[rows]) <= 0)
        if bad.size:
            rows_of.append(rows)
            row = int(rows[bad[0] + 1])
            first_bad = row if first_bad is None else min(first_bad, row)
    if first_bad is None:
        return
    first_dup: int | None = None
    for rows in rows_of:  # only pairs out of order can hold a duplicate
        pair_ts = ts[rows]
        order = np.argsort(pair_ts, kind="stable")
        repeated = order[1:][pair_ts[order][1:] == pair_ts[order][:-1]]  # later occurrences
        if repeated.size:
            row = int(rows[repeated.min()])
            first_dup = row if first_dup is None else min(first_dup, row)
    if first_dup is not None:
        pair, ts_value = out["pair"][first_dup], out["timestamp"][first_dup]
        raise DataValidationError(
            f"`timestamp` must be unique per pair, was {ts_value} repeated {_where(first_dup, pair)}; "
            f'drop duplicates with `df.unique(["pair", "timestamp"], keep="first", maintain_order=True)`'
        )
    row = first_bad
    pair = out["pair"][row]
    prev = (
        out.lazy()
        .head(row)
        .filter(pl.col("pair") == pair)
        .select(pl.col("timestamp").last())
        .collect()
        .item()
    )
    raise DataValidationError(
        f"`timestamp` must be strictly increasing within each pair, was {out['timestamp'][row]} "
        f"after {prev} {_where(row, pair)}; sort the input with `df.sort(\"pair\", \"timestamp\")`"
    )


# --------------------------------------------------------------------------- signals


def _check_validated_ohlcv(ohlcv: Any) -> None:
    """`ohlcv` is what `validate_ohlcv` returns (signals are checked against its bars)."""
    fix = "pass the result of load_ohlcv(...) or validate_ohlcv(...)"
    if not isinstance(ohlcv, pl.DataFrame):
        raise DataValidationError(f"`ohlcv` must be validated OHLCV bars (a polars DataFrame), was {type(ohlcv).__name__}; {fix}")
    schema = ohlcv.schema
    ts, pair = schema.get("timestamp"), schema.get("pair")
    if ts != pl.Datetime("us") or pair != pl.String:
        raise DataValidationError(
            f"`ohlcv` must be validated OHLCV bars (`timestamp` Datetime(us) naive UTC, `pair` String), "
            f"had `timestamp` {ts} and `pair` {pair}; {fix}"
        )


def validate_signals(df: pl.DataFrame | None, *, ohlcv: pl.DataFrame) -> pl.DataFrame:
    """Validate signals against validated OHLCV bars and return a normalised copy.

    Required columns: `pair, timestamp, signal_type, probability`; extra columns are
    kept. `signal_type` is "rise", "fall" or "none"; `probability` is finite in [0, 1];
    each (pair, timestamp) must be a bar of that pair in `ohlcv` (a signal at bar t is
    known at the close of t). Several signals per (pair, timestamp) are allowed.
    `None` or an empty frame gives an empty frame with `SIGNALS_SCHEMA` (an empty frame
    is accepted whatever its column dtypes). Output is sorted by (timestamp, pair),
    stable, so signals of one bar keep their input order.
    """
    _check_validated_ohlcv(ohlcv)
    if df is None:
        return empty_signals()
    if not isinstance(df, pl.DataFrame):
        raise DataValidationError(
            f"`signals` must be a polars DataFrame or None, was {type(df).__name__}; "
            f"convert it with `pl.DataFrame(...)`"
        )
    required = tuple(SIGNALS_SCHEMA)
    _missing_columns(df, required, "signals", '`df.rename({"side": "signal_type", "score": "probability"})`')
    extras = [c for c in df.columns if c not in required]

    if df.height == 0:
        return pl.concat(
            [empty_signals(), df.select(extras).clear()], how="horizontal"
        ) if extras else empty_signals()

    out = df.select(
        _string_expr(df, "pair").alias("pair"),
        _timestamp_expr(df).alias("timestamp"),
        _string_expr(df, "signal_type").alias("signal_type"),
        _float_expr(df, "probability").alias("probability"),
        *[pl.col(c) for c in extras],
    )
    _check_nulls(out, required)
    _check_whole_microseconds(df)

    hit = _first_violation(out, {"t": ~pl.col("signal_type").is_in(list(SIGNAL_TYPES))})
    if hit:
        _, row = hit
        raise DataValidationError(
            f"`signal_type` must be one of {list(SIGNAL_TYPES)}, was {out['signal_type'][row]!r} "
            f"{_where(row, out['pair'][row])}; map your labels, e.g. "
            f'`pl.col("signal_type").replace({{"buy": "rise", "sell": "fall"}})`'
        )
    _check_finite(out, ["probability"])
    hit = _first_violation(out, {"p": (pl.col("probability") < 0) | (pl.col("probability") > 1)})
    if hit:
        _, row = hit
        lowest, highest = out["probability"].min(), out["probability"].max()
        percent = lowest >= 0 and 2 < highest <= 100  # percentages, which clipping would turn into 1
        raise DataValidationError(
            f"`probability` must be in [0, 1], was {out['probability'][row]} {_where(row, out['pair'][row])}; "
            + ('they look like percentages: divide them by 100, e.g. `pl.col("probability") / 100`' if percent
               else 'rescale or clip it, e.g. `pl.col("probability").clip(0, 1)`')
        )

    pairs = ohlcv.get_column("pair").unique()
    hit = _first_violation(out, {"pair": ~pl.col("pair").is_in(pairs.implode())})
    if hit:
        _, row = hit
        known = sorted(pairs.to_list())
        shown = known if len(known) <= 10 else [*known[:10], "..."]
        raise DataValidationError(
            f"`pair` must be a pair of the OHLCV data, was {out['pair'][row]!r} (row {row}); "
            f"known pairs: {shown}; drop signals of other pairs or add their bars"
        )

    _check_signals_on_bars(out, ohlcv)

    return out.sort(["timestamp", "pair"], maintain_order=True)


def _check_signals_on_bars(signals: pl.DataFrame, ohlcv: pl.DataFrame) -> None:
    """Raise for the first signal whose (pair, timestamp) is not a bar of `ohlcv`, saying
    whether it lies outside its pair's data range or between its bars.

    Pair by pair with numpy (each pair's bar times sorted once), not with a frame-wide join,
    which would cost several times the bars' own memory on long data.
    """
    if not signals.height:
        return
    names, bar_pairs = _pair_codes(ohlcv["pair"])
    bar_ts = ohlcv["timestamp"].to_physical().to_numpy()
    sig_pairs = signals["pair"].to_numpy()
    sig_ts = signals["timestamp"].to_physical().to_numpy()
    first_missing: int | None = None
    ranges: dict[str, tuple[int, int]] = {}
    for code in np.unique(bar_pairs):
        pair = names[code]
        wanted = np.flatnonzero(sig_pairs == pair)
        if not wanted.size:
            continue
        times = np.sort(bar_ts[bar_pairs == code])
        at = np.searchsorted(times, sig_ts[wanted]).clip(max=len(times) - 1)
        missing = wanted[times[at] != sig_ts[wanted]]
        if missing.size:
            row = int(missing[0])
            ranges[pair] = (int(times[0]), int(times[-1]))
            first_missing = row if first_missing is None else min(first_missing, row)
    if first_missing is None:
        return
    row = first_missing
    pair, ts = signals["pair"][row], signals["timestamp"][row]
    lo_us, hi_us = ranges[pair]
    lo, hi = (pl.Series([lo_us, hi_us], dtype=pl.Int64).cast(pl.Datetime("us")).to_list())
    if ts < lo or ts > hi:
        raise DataValidationError(
            f"`timestamp` must be within the data range of its pair [{lo}, {hi}], was {ts} "
            f"{_where(row, pair)}; drop signals outside the data or align signals to bar timestamps"
        )
    raise DataValidationError(
        f"`timestamp` must be a bar timestamp of its pair, was {ts} {_where(row, pair)}; "
        f"align signals to bar timestamps (e.g. `pl.col(\"timestamp\").dt.truncate(<bar interval>)`) "
        f"or drop them"
    )
