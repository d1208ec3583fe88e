"""Loading and splitting an experiment's data (`DataSpec`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from signalflow.core.errors import ConfigError, DataValidationError
from signalflow.data import (
    DataSlice,
    DataSplit,
    chronological_split,
    load_ohlcv,
    load_signals,
    make_synthetic_market,
    slice_by_time,
    validate_ohlcv,
    validate_signals,
)
from signalflow_gym.config import EnvConfig
from signalflow_gym.experiment.config import DataSpec

__all__ = ["SPLIT_NAMES", "load_data", "split_data", "make_detector", "period_of", "check_no_overlap"]

SPLIT_NAMES = ("train", "validation", "test")


def make_detector(name: str, kwargs: dict[str, Any] | None = None) -> Any:
    """The built-in detector `name` (`signalflow.detector.DETECTORS`: "momentum" or "ma_cross") with `kwargs`."""
    from signalflow.detector import DETECTORS

    cls = DETECTORS[name]
    try:
        return cls(**(kwargs or {}))
    except TypeError as exc:
        raise ConfigError(f"`data.detector_kwargs` do not fit the {name} detector ({exc}); see {cls.__name__}") from None


def load_data(spec: DataSpec) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Validated `(raw_data, signals)` for `spec`.

    Synthetic: `make_synthetic_market(**spec.synthetic)` (its planted signals, or the
    detector's when `spec.detector` is set). File: `load_ohlcv(spec.source)` (CSV timestamps
    per `spec.timestamp_format`), then the
    signals file, else the detector's signals (`spec.detector`, default "momentum").
    Raises `ConfigError` / `DataValidationError` naming the file and the problem.
    """
    if spec.source == "synthetic":
        market = make_synthetic_market(**spec.synthetic.to_dict())
        raw, signals = market.raw_data, market.signals
        if spec.signals is not None:
            signals = _load_signals(spec, raw)
        elif spec.detector is not None:
            signals = make_detector(spec.detector, spec.detector_kwargs).detect(raw)
        return raw, signals
    raw = _with_name("data.source", lambda: load_ohlcv(spec.source, timestamp_format=spec.csv_timestamp_format(spec.source)))
    if spec.signals is not None:
        signals = _load_signals(spec, raw)
    else:
        signals = make_detector(spec.detector or "momentum", spec.detector_kwargs).detect(raw)
    return raw, signals


def _load_signals(spec: DataSpec, raw: pl.DataFrame) -> pl.DataFrame:
    fmt = spec.csv_timestamp_format(spec.signals)
    return _with_name("data.signals", lambda: load_signals(spec.signals, ohlcv=raw, timestamp_format=fmt))


def _with_name(key: str, load: Any) -> Any:
    try:
        return load()
    except (ConfigError, DataValidationError) as exc:
        raise type(exc)(f"`{key}`: {exc}") from None


def _n_times(df: pl.DataFrame) -> int:
    return df.get_column("timestamp").n_unique() if df.height else 0


def split_data(
    spec: DataSpec,
    raw: pl.DataFrame,
    signals: pl.DataFrame | None,
    *,
    env: EnvConfig | None = None,
) -> DataSplit:
    """Chronological, non-overlapping train / validation / test slices.

    By `spec.split_at` dates when set, else by `spec.fractions` of the timestamps. With
    `env`, every slice must hold at least ``env.episode.length + env.episode.warmup_bars``
    timestamps (else `ConfigError` naming the slice and the fix).
    """
    raw = validate_ohlcv(raw)
    signals = validate_signals(signals, ohlcv=raw)
    if spec.split_at is not None:
        t1, t2 = spec.split_at
        split = DataSplit(
            train=slice_by_time(raw, signals, None, t1),
            validation=slice_by_time(raw, signals, t1, t2),
            test=slice_by_time(raw, signals, t2, None),
        )
    else:
        split = chronological_split(raw, signals, fractions=spec.fractions)
    check_split(split, env)
    return split


def check_split(split: DataSplit, env: EnvConfig | None) -> None:
    """Every slice non-empty, in time order without overlap, and long enough for `env`'s episodes."""
    prev_end: datetime | None = None
    prev_name = ""
    for name in SPLIT_NAMES:
        sl: DataSlice = getattr(split, name)
        n = _n_times(sl.raw_data)
        if n == 0:
            raise ConfigError(f"the {name} split has no bars; move `data.split_at` / `data.fractions` or use more data")
        if prev_end is not None and sl.start <= prev_end:
            raise ConfigError(
                f"the {name} split starts at {sl.start}, not after the {prev_name} split ends ({prev_end}); "
                "splits must not overlap, fix `data.split_at`"
            )
        prev_end, prev_name = sl.end, name
        if env is not None and env.episode.length is not None:
            env.episode.check_fits(n, what=f"the {name} split",
                                   fix="use shorter episodes, more data or a larger fraction for it")


def period_of(raw: pl.DataFrame) -> dict[str, Any]:
    """First / last timestamp (ISO), bar count (timestamps) and pairs of a frame of bars."""
    if raw.height == 0:
        return {"start": None, "end": None, "n_bars": 0, "pairs": []}
    ts = raw.get_column("timestamp")
    return {
        "start": ts.min().isoformat(),
        "end": ts.max().isoformat(),
        "n_bars": int(ts.n_unique()),
        "pairs": sorted(raw.get_column("pair").unique().to_list()),
    }


def check_no_overlap(raw: pl.DataFrame, train_period: dict[str, Any] | None, *, what: str = "evaluation data",
                     period: str = "training period") -> None:
    """`ConfigError` if `raw` has bars of a training pair inside the training period (`period`
    names it in the message; `train_period` is a `period_of` dict)."""
    if not train_period or not train_period.get("start"):
        return
    start = datetime.fromisoformat(train_period["start"])
    end = datetime.fromisoformat(train_period["end"])
    pairs = set(train_period.get("pairs") or [])
    inside = raw.filter((pl.col("timestamp") >= start) & (pl.col("timestamp") <= end))
    if pairs:
        inside = inside.filter(pl.col("pair").is_in(sorted(pairs)))
    if inside.height:
        first = inside.get_column("timestamp").min()
        raise ConfigError(
            f"the {what} overlaps the {period} [{start}, {end}] (first overlapping bar {first}, "
            f"{inside.height} rows); evaluate on later data, or pass --allow-overlap to do it anyway"
        )
