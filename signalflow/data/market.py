"""`MarketData`: a run's inputs converted once into aligned `[bars, pairs]` numpy arrays.

What is computed once per market: the timestamp axis, the price grids (open, high, low,
close, volume, has_bar, mark), and where each bar's signals start in the signals frame.
What is built when a bar is opened, and not kept: the bar's datetime (`datetime_at`), its
tradable prices (`prices_at`), its mark row (`mark_row`) and its signals view
(`signals_at`); a run reads them through a `BarCursor`, which converts datetimes, mark rows
and signal rows a block of bars at a time (a bar where a pair has no bar reads its closes
when its prices are asked for). So memory stays near the arrays' own size (about 50 bytes per
pair-bar) however long the data, and the bar loop never filters a DataFrame.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from signalflow.core.errors import DataValidationError
from signalflow.core.prices import PriceMap
from signalflow.core.signals import BarSignalsFrame, Signals, has_nested_columns
from signalflow.data.validation import SPREAD_COLUMN

__all__ = ["BarCursor", "MarketData", "as_frame"]

_EPOCH = datetime(1970, 1, 1)


def as_frame(data: Any, *, name: str) -> pl.DataFrame | None:
    """The polars DataFrame inside `data` (a DataFrame, `Signals`, or an object with `.value`/`.raw_data`)."""
    if data is None or isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, Signals):
        value = data.value
        return value.to_frame() if isinstance(value, BarSignalsFrame) else value
    for attr in ("raw_data", "value", "df", "data"):
        inner = getattr(data, attr, None)
        if isinstance(inner, pl.DataFrame):
            return inner
    raise DataValidationError(
        f"`{name}` must be a polars DataFrame (or a container with one at `.value`/`.raw_data`), "
        f"was {type(data).__name__}; convert it with pl.DataFrame(...) or pl.from_pandas(...)"
    )


def _epoch_us(timestamp: datetime) -> int:
    """`timestamp` in microseconds since the epoch, as on the market's axis."""
    return pl.Series([timestamp]).cast(pl.Datetime("us")).dt.epoch("us")[0]


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


@dataclass(frozen=True, slots=True, eq=False)
class MarketData:
    """Bars of all pairs on one timestamp axis, plus signals located per bar.

    Arrays are `[T, P]` (bars x pairs, pairs sorted by name), read-only, stored
    column-major so that one pair's series (`close_column`) is contiguous. A pair
    without a bar at t has NaN prices and `has_bar[t, p] == False`; `mark[t, p]` is
    its last close at or before t (NaN before its first bar). Bar t's signals are
    rows ``[signal_starts[t], signal_starts[t] + signal_counts[t])`` of `signals`
    (sorted by timestamp). Build it with `MarketData.build(raw_data, signals)` and
    share it between runs: nothing in it changes.
    """

    signals: pl.DataFrame
    pairs: tuple[str, ...]
    pair_index: dict[str, int]
    timestamps: np.ndarray  # int64 microseconds since the epoch, [T]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    has_bar: np.ndarray
    mark: np.ndarray
    all_pairs_have_bar: np.ndarray  # bool, [T]
    signal_starts: np.ndarray  # int64, [T]
    signal_counts: np.ndarray  # int64, [T]
    #: `signals.columns`, and whether one holds nested (mutable) values, whose rows are then
    #: converted afresh on every read rather than once
    signal_columns: tuple[str, ...]
    nested_signal_columns: bool
    #: the `Signals` of a bar without signals (shared: its frame is read-only)
    no_signals: Signals
    #: the bars' optional `spread` column (bid-ask spread, quote currency), [T, P], NaN
    #: where a pair has no bar; None when the bars have no such column
    spread: np.ndarray | None = None

    @property
    def n_bars(self) -> int:
        return len(self.timestamps)

    @property
    def n_pairs(self) -> int:
        return len(self.pairs)

    @classmethod
    def build(cls, raw_data: Any, signals: Any = None) -> "MarketData":
        """Validate `raw_data` (long OHLCV) and `signals`, then precompute the arrays.

        A container passed as `raw_data` that also holds signals (a `SyntheticMarket`) is
        refused when `signals` is None: its signals would silently be left out.
        """
        if isinstance(raw_data, MarketData):
            if signals is not None:
                raise DataValidationError(
                    "`signals` must be None when `raw_data` is a MarketData (it already holds its signals)"
                )
            return raw_data
        from signalflow.data.validation import normalise_ohlcv, validate_signals

        if signals is None and not isinstance(raw_data, pl.DataFrame):
            held = getattr(raw_data, "signals", None)
            held_frame = as_frame(held, name="raw_data.signals") if held is not None else None
            if held_frame is not None and held_frame.height:
                kind = type(raw_data).__name__
                raise DataValidationError(
                    f"`raw_data` is a {kind} that holds {held_frame.height:,} signals at `.signals`, but "
                    "`signals` was not passed, so the run would see none; pass them "
                    "(`runner.run(market.raw_data, market.signals)`), or pass `market.raw_data` alone "
                    "to run without signals"
                )
        bars = normalise_ohlcv(as_frame(raw_data, name="raw_data"))
        sigs = validate_signals(as_frame(signals, name="signals"), ohlcv=bars)
        return cls.from_valid(bars, sigs)

    @classmethod
    def from_valid(cls, bars: pl.DataFrame, sigs: pl.DataFrame) -> "MarketData":
        """Precompute the arrays of validated bars (any row order) and signals (sorted by
        timestamp; see `build`). Keeps no reference to `bars`."""
        pairs = tuple(sorted(bars["pair"].unique().to_list()))
        pair_index = {p: i for i, p in enumerate(pairs)}
        ts = bars["timestamp"].to_physical().to_numpy()  # Datetime("us"): microseconds, no copy
        axis = np.unique(ts)
        t_idx = np.searchsorted(axis, ts)
        p_idx = bars["pair"].replace_strict(pair_index, return_dtype=pl.Int32).to_numpy()
        T, P = len(axis), len(pairs)

        def grid(column: str) -> np.ndarray:
            out = np.full((T, P), np.nan, order="F")
            out[t_idx, p_idx] = bars[column].to_numpy()
            return _read_only(out)

        prices = {column: grid(column) for column in ("open", "high", "low", "close", "volume")}

        has_bar = np.zeros((T, P), dtype=bool, order="F")
        has_bar[t_idx, p_idx] = True
        spread = grid(SPREAD_COLUMN) if SPREAD_COLUMN in bars.columns else None
        del t_idx, p_idx, ts
        close = prices["close"]
        mark = np.empty((T, P), order="F")
        rows = np.arange(T)
        for j in range(P):  # last close at or before t: forward-fill each pair's closes
            last = np.maximum.accumulate(np.where(has_bar[:, j], rows, -1))
            mark[:, j] = np.where(last >= 0, close[last, j], np.nan)
        if sigs.height:
            sig_t = np.searchsorted(axis, sigs["timestamp"].dt.epoch("us").to_numpy())
            counts = np.bincount(sig_t, minlength=T).astype(np.int64)
        else:
            counts = np.zeros(T, np.int64)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
        return cls(
            signals=sigs,
            pairs=pairs,
            pair_index=pair_index,
            timestamps=_read_only(axis),
            **prices,
            has_bar=_read_only(has_bar),
            mark=_read_only(mark),
            all_pairs_have_bar=_read_only(has_bar.all(axis=1)),
            signal_starts=_read_only(starts),
            signal_counts=_read_only(counts),
            signal_columns=tuple(sigs.columns),
            nested_signal_columns=has_nested_columns(sigs),
            no_signals=Signals(BarSignalsFrame(sigs.head(0), ())),
            spread=spread,
        )

    @property
    def raw_data(self) -> pl.DataFrame:
        """The bars as a validated long frame (`pair, timestamp, open, high, low, close, volume`)
        sorted by (timestamp, pair), rebuilt from the arrays on each call (O(bars x pairs);
        extra input columns are not kept)."""
        t, j = np.nonzero(self.has_bar)
        frame = {
            "pair": pl.Series("pair", self.pairs, dtype=pl.String).gather(j),
            "timestamp": pl.Series("timestamp", self.timestamps[t], dtype=pl.Int64).cast(pl.Datetime("us")),
        }
        for column in ("open", "high", "low", "close", "volume"):
            frame[column] = getattr(self, column)[t, j]
        return pl.DataFrame(frame)

    # -- one bar's views, built when the bar is opened ---------------------------------------
    def datetime_at(self, t: int) -> datetime:
        """The (naive UTC) datetime of bar `t`."""
        return _EPOCH + timedelta(0, 0, self.timestamps.item(t))

    @property
    def datetimes(self) -> list[datetime]:
        """Every bar's datetime (built on each call: O(bars); per bar, use `datetime_at`)."""
        return self.timestamps.astype("datetime64[us]").tolist()

    def prices_at(self, t: int) -> PriceMap:
        """Close of every pair that has a bar at `t` (the tradable prices), read-only; the
        table is built on first read."""
        return PriceMap(build=lambda: self.price_table(t))

    def price_table(self, t: int) -> dict[str, float]:
        """`prices_at(t)` as a plain dict, built now."""
        return self.tradable_prices(t, self.close[t].tolist(), bool(self.all_pairs_have_bar[t]))

    def tradable_prices(self, t: int, closes: list[float], complete: bool) -> dict[str, float]:
        """pair -> close at bar `t` for the pairs that have a bar, from the bar's row of closes
        (`complete`: every pair has one)."""
        if complete:
            return dict(zip(self.pairs, closes))
        has = self.has_bar[t].tolist()
        return {p: closes[j] for j, p in enumerate(self.pairs) if has[j]}

    def mark_row(self, t: int) -> list[float]:
        """Every pair's mark price at `t` (last close at or before t), by pair column."""
        return self.mark[t].tolist()

    def signals_at(self, t: int, rows: Sequence[tuple[Any, ...]] | None = None) -> Signals:
        """Bar `t`'s signals, as a read-only view in input order. `rows`: the bar's rows of
        `signals` as tuples, if the caller has them (see `BarCursor`); read here otherwise."""
        n = int(self.signal_counts[t])
        if not n:
            return self.no_signals
        s = int(self.signal_starts[t])
        if rows is None and not self.nested_signal_columns:
            rows = self.signals.slice(s, n).rows()
        return Signals(BarSignalsFrame(self.signals, rows, offset=s, length=n, columns=self.signal_columns))

    def has_volume(self) -> bool:
        """True if some bar has a positive volume. False for bars given without a `volume`
        column (`validate_ohlcv` gives them 0.0): a cost model that needs volumes cannot fill
        anything then."""
        return bool(np.fmax.reduce(self.volume, axis=None) > 0.0)  # (fmax skips NaN; no copy of the array)

    def close_column(self, pair: str) -> np.ndarray | None:
        """`pair`'s closes over the whole axis (NaN where it has no bar), a contiguous
        read-only view, or None for an unknown pair."""
        j = self.pair_index.get(pair)
        return None if j is None else self.close[:, j]

    def column(self, field: str, pair: str) -> np.ndarray | None:
        """`pair`'s `field` ("open", "high", "low", "close", "volume" or "mark") over the
        whole axis, a contiguous read-only view, or None for an unknown pair."""
        if field not in ("open", "high", "low", "close", "volume", "mark"):
            raise DataValidationError(f"`field` must be open, high, low, close, volume or mark, was {field!r}")
        j = self.pair_index.get(pair)
        return None if j is None else getattr(self, field)[:, j]

    def index_of(self, timestamp: datetime) -> int:
        """Index of the first bar at or after `timestamp` (`n_bars` if it is after the last)."""
        return int(np.searchsorted(self.timestamps, _epoch_us(timestamp)))

    def covers(self, timestamp: datetime) -> bool:
        """Whether `timestamp` lies within the data's span, from its first bar to its last
        (inclusive; a time between two bars is covered)."""
        return bool(self.n_bars) and int(self.timestamps[0]) <= _epoch_us(timestamp) <= int(self.timestamps[-1])

    def fingerprint(self) -> str:
        """sha256 of the bars and signals (identifies the data a model was trained on)."""
        h = hashlib.sha256()
        h.update("\x00".join(self.pairs).encode())
        for arr in (self.timestamps, self.open, self.high, self.low, self.close, self.volume):
            h.update(np.ascontiguousarray(arr).tobytes())
        if self.signals.height:
            h.update(self.signals.select("pair", "timestamp", "signal_type", "probability").hash_rows().to_numpy().tobytes())
        return h.hexdigest()


class BarCursor:
    """Reads one run's per-bar values of a market in blocks of `block` bars.

    A bar's datetime, mark row and tradable prices are read from Python lists that one
    numpy (or polars) call makes per block, not converted one bar at a time (a bar where
    every pair has a bar trades at its mark row; a bar where some pair has none reads its
    row of closes when its prices are asked for); only the
    current block is held (a few hundred KB), so memory does not grow with the run.
    Reading bar t outside the current block loads the block that starts at t.
    """

    __slots__ = ("market", "block", "start", "stop", "_datetimes", "_marks", "_complete", "_signal_rows",
                 "_signal_counts", "_signal_offsets")

    def __init__(self, market: MarketData, *, block: int = 1024) -> None:
        self.market = market
        self.block = int(block)
        self.start = self.stop = 0
        self._datetimes: list[datetime] = []
        self._marks: list[list[float]] = []
        self._complete: list[bool] = []
        self._signal_rows: list[tuple[Any, ...]] = []  # the block's rows of `market.signals`
        self._signal_counts: list[int] = []  # per bar of the block: its number of signals
        self._signal_offsets: list[int] = []  # per bar of the block: where its rows start in `_signal_rows`

    def _load(self, t: int) -> None:
        market = self.market
        a, b = t, min(t + self.block, market.n_bars)
        if not 0 <= a < b:
            raise IndexError(f"bar {t} is outside the market's [0, {market.n_bars})")
        # numpy converts int64 microseconds to naive datetimes in C, about 4x faster than polars to_list
        self._datetimes = market.timestamps[a:b].astype("datetime64[us]").tolist()
        self._marks = market.mark[a:b].tolist()
        self._complete = market.all_pairs_have_bar[a:b].tolist()
        self._signal_counts = market.signal_counts[a:b].tolist()
        first = int(market.signal_starts[a])
        self._signal_offsets = (market.signal_starts[a:b] - first).tolist()
        if not market.nested_signal_columns:
            last = int(market.signal_starts[b - 1] + market.signal_counts[b - 1])
            self._signal_rows = market.signals.slice(first, last - first).rows()
        self.start, self.stop = a, b

    def datetime_at(self, t: int) -> datetime:
        """`MarketData.datetime_at(t)`."""
        if not self.start <= t < self.stop:
            self._load(t)
        return self._datetimes[t - self.start]

    def mark_row(self, t: int) -> list[float]:
        """`MarketData.mark_row(t)`."""
        if not self.start <= t < self.stop:
            self._load(t)
        return self._marks[t - self.start]

    def price_table(self, t: int) -> dict[str, float]:
        """`MarketData.price_table(t)`."""
        if not self.start <= t < self.stop:
            self._load(t)
        i = t - self.start
        if not self._complete[i]:  # some pair has no bar: read its row of closes
            return self.market.price_table(t)
        # every pair has a bar at t, so its mark (last close at or before t) is its close
        return self.market.tradable_prices(t, self._marks[i], True)

    def signals_at(self, t: int) -> Signals:
        """`MarketData.signals_at(t)`, from the block's rows."""
        if not self.start <= t < self.stop:
            self._load(t)
        market = self.market
        n = self._signal_counts[t - self.start]
        if not n:  # most bars: the market's one empty view
            return market.no_signals
        if market.nested_signal_columns:
            return market.signals_at(t)
        s = self._signal_offsets[t - self.start]
        return market.signals_at(t, self._signal_rows[s : s + n])

    def signal_count(self, t: int) -> int:
        """Number of signals at bar `t` (`MarketData.signal_counts[t]`)."""
        if not self.start <= t < self.stop:
            self._load(t)
        return self._signal_counts[t - self.start]

    def prices_at(self, t: int) -> PriceMap:
        """`MarketData.prices_at(t)`: the table is built on first read."""
        return PriceMap(build=lambda: self.price_table(t))
