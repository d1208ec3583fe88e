"""`MarketData`: a run's inputs converted once into aligned numpy arrays.

The bar loop then reads numpy rows and prebuilt per-bar signal frames; it
never filters a DataFrame per bar.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

import numpy as np
import polars as pl

from signalflow.core.errors import DataValidationError
from signalflow.core.prices import PriceMap
from signalflow.core.signals import BarSignalsFrame, Signals, has_nested_columns

__all__ = ["MarketData", "as_frame"]


def as_frame(data: Any, *, name: str) -> pl.DataFrame | None:
    """The polars DataFrame inside `data` (a DataFrame, `Signals`, or an object with `.value`/`.raw_data`)."""
    if data is None or isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, Signals):
        return data.value
    for attr in ("raw_data", "value", "df", "data"):
        inner = getattr(data, attr, None)
        if isinstance(inner, pl.DataFrame):
            return inner
    raise DataValidationError(
        f"`{name}` must be a polars DataFrame (or a container with one at `.value`/`.raw_data`), "
        f"was {type(data).__name__}; convert it with pl.DataFrame(...) or pl.from_pandas(...)"
    )


@dataclass(frozen=True, slots=True, eq=False)
class MarketData:
    """Bars of all pairs on one timestamp axis, plus signals partitioned per bar.

    Arrays are `[T, P]` (bars x pairs, pairs sorted by name); a pair without a
    bar at t has NaN prices and `has_bar[t, p] == False`; `mark[t, p]` is its
    last close at or before t (NaN before its first bar).
    """

    raw_data: pl.DataFrame
    signals: pl.DataFrame
    pairs: tuple[str, ...]
    pair_index: dict[str, int]
    timestamps: np.ndarray  # int64 microseconds since the epoch, [T]
    datetimes: list[datetime]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    has_bar: np.ndarray
    mark: np.ndarray
    bar_signals: list[Signals]
    signal_counts: np.ndarray  # int, [T]
    mark_rows: list[list[float]] = field(repr=False)  # `mark` as Python floats, for the bar loop
    _close_rows: list[list[float]] = field(repr=False)
    _prices: list[Mapping[str, float] | None] = field(repr=False)
    _all_bars: np.ndarray = field(repr=False)
    _close_columns: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        # The per-bar price mappings and the close columns are caches: rebuilt on demand.
        state = {name: getattr(self, name) for name in self.__dataclass_fields__}
        state["_prices"] = None
        state["_close_columns"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state.get("_prices") is None:
            state["_prices"] = [None] * len(state["timestamps"])
        state.setdefault("_close_columns", {})
        for name, value in state.items():
            object.__setattr__(self, name, value)

    @property
    def n_bars(self) -> int:
        return len(self.timestamps)

    @property
    def n_pairs(self) -> int:
        return len(self.pairs)

    @classmethod
    def build(cls, raw_data: Any, signals: Any = None) -> "MarketData":
        """Validate `raw_data` (long OHLCV) and `signals`, then precompute the arrays."""
        if isinstance(raw_data, MarketData):
            if signals is not None:
                raise DataValidationError(
                    "`signals` must be None when `raw_data` is a MarketData (it already holds its signals)"
                )
            return raw_data
        from signalflow.data.validation import validate_ohlcv, validate_signals

        bars = validate_ohlcv(as_frame(raw_data, name="raw_data"))
        sigs = validate_signals(as_frame(signals, name="signals"), ohlcv=bars)
        return cls._from_valid(bars, sigs)

    @classmethod
    def _from_valid(cls, bars: pl.DataFrame, sigs: pl.DataFrame) -> "MarketData":
        pairs = tuple(sorted(bars["pair"].unique().to_list()))
        pair_index = {p: i for i, p in enumerate(pairs)}
        ts = bars["timestamp"].dt.epoch("us").to_numpy()
        axis = np.unique(ts)
        t_idx = np.searchsorted(axis, ts)
        p_idx = bars["pair"].replace_strict(pair_index, return_dtype=pl.Int64).to_numpy()
        T, P = len(axis), len(pairs)

        def grid(column: str) -> np.ndarray:
            out = np.full((T, P), np.nan)
            out[t_idx, p_idx] = bars[column].to_numpy()
            return out

        has_bar = np.zeros((T, P), dtype=bool)
        has_bar[t_idx, p_idx] = True
        close = grid("close")
        rows = np.where(has_bar, np.arange(T)[:, None], 0)
        np.maximum.accumulate(rows, axis=0, out=rows)
        mark = close[rows, np.arange(P)[None, :]]
        seen = np.maximum.accumulate(has_bar, axis=0)
        mark[~seen] = np.nan
        datetimes = pl.Series(axis).cast(pl.Datetime("us")).to_list()

        sig_t = np.searchsorted(axis, sigs["timestamp"].dt.epoch("us").to_numpy()) if sigs.height else np.zeros(0, np.int64)
        counts = np.bincount(sig_t, minlength=T).astype(np.int64) if sigs.height else np.zeros(T, np.int64)
        empty = Signals(BarSignalsFrame.wrap(sigs.head(0)), strongest_by_pair={}, _ranked=[])
        bar_signals: list[Signals] = [empty] * T
        if sigs.height:
            starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
            all_rows = None if has_nested_columns(sigs) else sigs.rows()
            pair_l = sigs["pair"].to_list()
            type_l = sigs["signal_type"].to_list()
            prob_l = sigs["probability"].to_list()
            for t in np.flatnonzero(counts).tolist():
                s, n = int(starts[t]), int(counts[t])
                strongest: dict[str, tuple[str, float]] = {}
                for k in range(s, s + n):
                    best = strongest.get(pair_l[k])
                    if best is None or prob_l[k] > best[1]:
                        strongest[pair_l[k]] = (type_l[k], prob_l[k])
                rows = None if all_rows is None else all_rows[s : s + n]
                bar_signals[t] = Signals(BarSignalsFrame.wrap(sigs.slice(s, n), rows), strongest_by_pair=strongest)
        return cls(
            raw_data=bars,
            signals=sigs,
            pairs=pairs,
            pair_index=pair_index,
            timestamps=axis,
            datetimes=datetimes,
            open=grid("open"),
            high=grid("high"),
            low=grid("low"),
            close=close,
            volume=grid("volume"),
            has_bar=has_bar,
            mark=mark,
            bar_signals=bar_signals,
            signal_counts=counts,
            mark_rows=mark.tolist(),
            _close_rows=close.tolist(),
            _prices=[None] * T,
            _all_bars=has_bar.all(axis=1),
        )

    def prices_at(self, t: int) -> Mapping[str, float]:
        """Close of every pair that has a bar at `t` (the tradable prices), read-only.

        Built on first use and shared by every run over this `MarketData`.
        """
        prices = self._prices[t]
        if prices is None:
            row = self._close_rows[t]
            if self._all_bars[t]:
                table = dict(zip(self.pairs, row))
            else:
                has = self.has_bar[t]
                table = {p: row[j] for j, p in enumerate(self.pairs) if has[j]}
            prices = self._prices[t] = PriceMap(table)
        return prices

    def close_column(self, pair: str) -> np.ndarray | None:
        """`pair`'s closes over the whole axis as one contiguous, read-only array (NaN where it
        has no bar), or None for an unknown pair. Built on first use, shared by every run."""
        column = self._close_columns.get(pair)
        if column is None:
            j = self.pair_index.get(pair)
            if j is None:
                return None
            column = self._close_columns[pair] = np.ascontiguousarray(self.close[:, j])
            column.flags.writeable = False
        return column

    def index_of(self, timestamp: datetime) -> int:
        """Index of the first bar at or after `timestamp`."""
        us = pl.Series([timestamp]).cast(pl.Datetime("us")).dt.epoch("us")[0]
        return int(np.searchsorted(self.timestamps, us))

    def fingerprint(self) -> str:
        """sha256 of the bars and signals (identifies the data a model was trained on)."""
        h = hashlib.sha256()
        h.update("\x00".join(self.pairs).encode())
        for arr in (self.timestamps, self.open, self.high, self.low, self.close, self.volume):
            h.update(np.ascontiguousarray(arr).tobytes())
        if self.signals.height:
            h.update(self.signals.select("pair", "timestamp", "signal_type", "probability").hash_rows().to_numpy().tobytes())
        return h.hexdigest()
