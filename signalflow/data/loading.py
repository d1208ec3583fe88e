"""Loading OHLCV bars and signals from DataFrames, CSV or parquet files.

Loaders read, then run the validators of `signalflow.data.validation`, so what they
return is normalised (`timestamp` Datetime("us") naive UTC, prices Float64, sorted by
(timestamp, pair)).

A CSV's `timestamp` column must be ISO 8601 text (``2024-01-02``, ``2024-01-02 10:00:00``,
``2024-01-02T10:00:00+01:00``; an offset is converted to UTC, no offset is UTC), or follow
`timestamp_format` (a strftime pattern such as ``"%m/%d/%Y %H:%M"``). Anything else, in
particular a day/month date like ``01/02/2024`` that could be 1 February or 2 January,
raises `DataValidationError` naming the row and how to give the format. Other columns
are read with polars' `try_parse_dates=True`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import polars as pl

from signalflow.core.errors import ConfigError, DataValidationError
from signalflow.data.validation import validate_ohlcv, validate_signals

__all__ = ["Source", "read_frame", "load_ohlcv", "load_signals"]

#: A polars DataFrame, or a path to a `.csv` or `.parquet` file.
Source = pl.DataFrame | str | os.PathLike[str]

_SUFFIXES = (".csv", ".parquet")
#: ISO 8601 date or date-time text: ``YYYY-MM-DD[( |T)HH:MM[:SS[.fff]]][Z|+HH:MM]``.
_ISO = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$"
#: A numeric day/month date (01/02/2024, 1.2.24, 01-02-2024), optionally followed by a time.
_DAY_MONTH = re.compile(r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{2}|\d{4})([T ].*)?$")
_TS = "timestamp"
_HOW = "(`timestamp_format=` of load_ohlcv/load_signals, `data.timestamp_format` in an experiment config)"


def read_frame(source: Source, *, name: str = "source", timestamp_format: str | None = None) -> pl.DataFrame:
    """Read `source` into a DataFrame without validating it.

    A DataFrame is returned as is; a `.csv` is read with `try_parse_dates=True` for its
    other columns, and its `timestamp` column parsed as ISO 8601 text, or with
    `timestamp_format` (a strftime pattern, e.g. ``"%m/%d/%Y"``) when given; a `.parquet`
    with `pl.read_parquet`. Raises `ConfigError` for another type or extension, or a
    `timestamp_format` for something other than a CSV, and `DataValidationError` for a
    missing or unreadable file or a timestamp that is not ISO 8601 (or does not match
    `timestamp_format`), naming its row.
    """
    if timestamp_format is not None:
        if not isinstance(timestamp_format, str) or "%" not in timestamp_format:
            raise ConfigError(
                f"`timestamp_format` must be a strftime pattern or None, was {timestamp_format!r}; "
                'write e.g. "%m/%d/%Y %H:%M"'
            )
        is_csv = isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() == ".csv"
        if not is_csv:
            raise ConfigError(
                f"`timestamp_format` applies to CSV files (their timestamps are text), was given for `{name}` "
                f"({type(source).__name__ if not isinstance(source, (str, os.PathLike)) else Path(source).name}); "
                'remove it, or parse a text column with pl.col("timestamp").str.to_datetime(format)'
            )
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
            df = pl.read_csv(path, try_parse_dates=True, schema_overrides={_TS: pl.String})
        else:
            return pl.read_parquet(path)
    except pl.exceptions.PolarsError as exc:  # unreadable content
        raise DataValidationError(
            f"`{name}` must be a readable {suffix[1:]} file, was '{path}' ({exc.__class__.__name__}: {exc}); "
            f"check the file contents"
        ) from exc
    return _parse_csv_timestamps(df, timestamp_format)


def _parse_csv_timestamps(df: pl.DataFrame, timestamp_format: str | None) -> pl.DataFrame:
    """`df` with its text `timestamp` column parsed (ISO 8601, or `timestamp_format`)."""
    if _TS not in df.columns or df.schema[_TS] != pl.String:
        return df
    text = df.get_column(_TS)
    if timestamp_format is None and text.null_count() < text.len():
        for dtype in (pl.Int64, pl.Float64):  # epoch numbers: validation says how to convert them
            numbers = text.cast(dtype, strict=False)
            if numbers.null_count() == text.null_count():
                return df.with_columns(numbers.alias(_TS))
    if timestamp_format is None:
        first = _first_row(text.is_not_null() & ~text.str.contains(_ISO))
        if first is not None:
            raise DataValidationError(_not_iso_message(df, first))
        rule = "ISO 8601 text in one form throughout (all with an offset, or none)"
        fix = f"write every timestamp the same way, or give the format with timestamp_format= {_HOW}"
    else:
        rule = f'text matching timestamp_format="{timestamp_format}"'
        fix = f"fix the row, or give the format it is written in {_HOW}"
    try:  # the eager Series call infers an ISO form from the values (an expression would not)
        parsed = text.str.to_datetime(format=timestamp_format, time_unit="us", strict=False)
    except pl.exceptions.PolarsError as exc:  # a pattern polars cannot use, or mixed forms
        if timestamp_format is not None:
            raise ConfigError(
                f"`timestamp_format` must be a valid strftime pattern, was {timestamp_format!r} ({exc}); "
                'write e.g. "%m/%d/%Y %H:%M"'
            ) from None
        raise DataValidationError(f"`{_TS}` must be {rule}, could not be parsed ({exc}); {fix}") from None
    first = _first_row(text.is_not_null() & parsed.is_null())
    if first is not None:
        if timestamp_format is None and _no_such_time(text[first]):
            raise DataValidationError(
                f"`{_TS}` must be a date or time that exists, was {text[first]!r}{_where(df, first)} (ISO 8601 in form, "
                "but no such day or time, e.g. 30 February or hour 25); fix or drop that row"
            )
        raise DataValidationError(f"`{_TS}` must be {rule}, was {text[first]!r}{_where(df, first)}; {fix}")
    return df.with_columns(parsed.alias(_TS))


def _no_such_time(value: str) -> bool:
    """True for ISO 8601 text that no calendar has (it does not parse even on its own)."""
    try:
        alone = pl.Series([value]).str.to_datetime(time_unit="us", strict=False)
    except pl.exceptions.PolarsError:
        return True
    return alone.null_count() == 1


def _first_row(mask: pl.Series) -> int | None:
    rows = mask.fill_null(False).arg_true()
    return int(rows[0]) if rows.len() else None


def _where(df: pl.DataFrame, row: int) -> str:
    pair = f", pair {df['pair'][row]}" if "pair" in df.columns else ""
    return f" (row {row}{pair})"


def _not_iso_message(df: pl.DataFrame, row: int) -> str:
    value = df[_TS][row]
    head = f"`{_TS}` must be ISO 8601 text (e.g. 2024-01-02 or 2024-01-02T10:00:00Z), was {value!r}{_where(df, row)}"
    m = _DAY_MONTH.match(value.strip())
    if m is None:
        return f"{head}; give their format with timestamp_format= {_HOW}, or write them as ISO 8601"
    sep, year = m.group(2), "%Y" if len(m.group(4)) == 4 else "%y"
    month_first, day_first = f"%m{sep}%d{sep}{year}", f"%d{sep}%m{sep}{year}"
    firsts, seconds = [], []
    for v in df[_TS].drop_nulls().to_list():
        mm = _DAY_MONTH.match(v.strip())
        if mm is not None:
            firsts.append(int(mm.group(1)))
            seconds.append(int(mm.group(3)))
    timed = ' (and its time part, e.g. " %H:%M:%S")' if m.group(5) else ""
    if any(f > 12 for f in firsts):
        guess = f'the dates look day first: timestamp_format="{day_first}"{timed}'
    elif any(s > 12 for s in seconds):
        guess = f'the dates look month first: timestamp_format="{month_first}"{timed}'
    else:
        guess = (f'a day/month date is ambiguous (is it month or day first?): give timestamp_format="{month_first}" '
                 f'(month first, US) or timestamp_format="{day_first}" (day first){timed}')
    return f"{head}; {guess} {_HOW}, or write the dates as ISO 8601 (2024-01-02)"


def _epoch_unit(value: float) -> str:
    """The likely unit of an epoch number of a recent date (s ~1e9, ms ~1e12, us ~1e15, ns ~1e18)."""
    magnitude = abs(value)
    for unit, below in (("s", 1e11), ("ms", 1e14), ("us", 1e17)):
        if magnitude < below:
            return unit
    return "ns"


def _refuse_epoch_file(df: pl.DataFrame, source: Source) -> None:
    """A file whose `timestamp` column holds epoch numbers: say how to convert it (a path
    cannot take the `with_columns` that validation suggests for a frame)."""
    if isinstance(source, pl.DataFrame) or _TS not in df.columns or not df.schema[_TS].is_numeric():
        return
    first = df.get_column(_TS).drop_nulls().head(1).to_list()
    if not first:
        return
    unit = _epoch_unit(float(first[0]))
    path = Path(source)
    reader = "read_csv" if path.suffix.lower() == ".csv" else "read_parquet"
    raise DataValidationError(
        f"`{_TS}` must be a Datetime or Date column, was {df.schema[_TS]} (epoch numbers in '{path}', e.g. "
        f"{first[0]!r}, which looks like {unit}); read and convert the file, then pass the frame: "
        f'pl.{reader}("{path}").with_columns(pl.from_epoch("{_TS}", time_unit="{unit}"))'
    )


def load_ohlcv(source: Source, *, timestamp_format: str | None = None) -> pl.DataFrame:
    """Load OHLCV bars from a DataFrame, `.csv` or `.parquet` and validate them (see `validate_ohlcv`).

    `timestamp_format`: strftime pattern of a CSV's timestamps when they are not ISO 8601.
    A file with epoch-number timestamps is refused with the conversion to apply.
    """
    df = read_frame(source, name="source", timestamp_format=timestamp_format)
    _refuse_epoch_file(df, source)
    return validate_ohlcv(df)


def load_signals(source: Source | None, *, ohlcv: pl.DataFrame, timestamp_format: str | None = None) -> pl.DataFrame:
    """Load signals from a DataFrame, `.csv` or `.parquet` (or None: no signals) and validate them.

    `ohlcv` must already be validated (e.g. by `load_ohlcv`); see `validate_signals`.
    `timestamp_format`: strftime pattern of a CSV's timestamps when they are not ISO 8601.
    """
    if source is None:
        return validate_signals(None, ohlcv=ohlcv)
    df = read_frame(source, name="source", timestamp_format=timestamp_format)
    _refuse_epoch_file(df, source)
    return validate_signals(df, ohlcv=ohlcv)
