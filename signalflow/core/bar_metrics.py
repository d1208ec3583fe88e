"""`BarMetrics` (the portfolio metrics of one bar, a read-only mapping) and `MetricsRecorder`
(measures a run's portfolio each bar and records the rows as float64, 8 bytes per value).

Every value is read from the `Portfolio` (cash, marked values, PnL, fees) and the run's
`RunLog` (counters); the recorder adds only the running peak and drawdowns.
"""

from __future__ import annotations

import mmap
import operator
import struct
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

if TYPE_CHECKING:
    from signalflow.core.portfolio import Portfolio
    from signalflow.core.state import RunLog

__all__ = ["METRIC_NAMES", "BarMetrics", "MetricsRecorder", "metric_reader"]


#: Keys of `StrategyState.metrics` and columns of `metrics_df` (after `timestamp`).
#: Money is in quote currency; fractions are plain floats (0.05 == 5%).
METRIC_NAMES: tuple[str, ...] = (
    "equity",            # cash + marked value of open positions
    "cash",              # free cash (collateral of shorts is not free)
    "positions_value",   # marked value of open positions (long: qty*price; short: collateral + unrealised PnL)
    "gross_exposure",    # sum of |qty*price| of open positions
    "exposure",          # gross_exposure / equity
    "total_return",      # equity / initial_capital - 1
    "peak_equity",       # running maximum of equity
    "current_drawdown",  # 1 - equity / peak_equity (>= 0)
    "max_drawdown",      # running maximum of current_drawdown
    "open_positions",    # number of open positions
    "realized_pnl",      # cumulative gross realised PnL of closed positions (fees excluded)
    "unrealized_pnl",    # gross unrealised PnL of open positions
    "fees_paid",         # cumulative fees of all fills
    "trades_closed",     # cumulative number of closed positions
    "orders_filled",     # cumulative filled orders
    "orders_rejected",   # cumulative orders rejected (no cash, no price, ...)
    "orders_reduced",    # cumulative entry orders reduced to fit the available cash
    "decisions_skipped", # cumulative decisions skipped (unknown position, no price, below confidence, ...)
    "borrow_paid",       # cumulative borrow cost of a margin account (short notional, borrowed cash)
)



_INDEX: dict[str, int] = {name: i for i, name in enumerate(METRIC_NAMES)}
_PEAK, _MAX_DRAWDOWN = _INDEX["peak_equity"], _INDEX["max_drawdown"]

#: Rows per block of `MetricsRecorder` (144 KiB).
_BLOCK_ROWS = 1024

#: `MetricsRecorder._last` when no row can be repeated (nothing recorded yet, or released).
_NOTHING = object()

#: One row of a `MetricsRecorder` block in memory: len(METRIC_NAMES) native float64s.
_ROW = struct.Struct(f"={len(METRIC_NAMES)}d")


class BarMetrics(Mapping):
    """Read-only mapping of `METRIC_NAMES` to this bar's values.

    Behaves like a dict for reading (`m["equity"]`, `m.get("max_drawdown", 0)`,
    iteration in `METRIC_NAMES` order, `dict(m)`); `to_dict()` gives a plain
    dict, e.g. for JSON. Counts (`open_positions`, `orders_filled`, ...) are ints.
    """

    __slots__ = ("values_list",)

    def __init__(self, values: tuple[Any, ...] | list[Any]) -> None:
        if len(values) != len(METRIC_NAMES):
            raise ValueError(f"`values` must have {len(METRIC_NAMES)} entries (METRIC_NAMES), was {len(values)}")
        self.values_list = values if type(values) is tuple else tuple(values)

    def __getitem__(self, key: str) -> Any:
        return self.values_list[_INDEX[key]]

    def get(self, key: str, default: Any = None) -> Any:
        i = _INDEX.get(key)
        return default if i is None else self.values_list[i]

    def __contains__(self, key: object) -> bool:
        return key in _INDEX

    def __iter__(self) -> Iterator[str]:
        return iter(METRIC_NAMES)

    def __len__(self) -> int:
        return len(METRIC_NAMES)

    def to_dict(self) -> dict[str, Any]:
        return dict(zip(METRIC_NAMES, self.values_list))

    def __repr__(self) -> str:
        return f"BarMetrics({self.to_dict()!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, BarMetrics):
            return self.values_list == other.values_list
        return Mapping.__eq__(self, other)

    __hash__ = None  # type: ignore[assignment]


def metric_reader(*names: str) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A function that reads `names` from a metrics mapping in one call, as a tuple in that order.

    For code that reads several metrics every step (an environment's observation, termination
    check and info): on a `BarMetrics` it picks the values by position from `values_list` (one C call,
    where ``m[name]`` costs a Python call per name); any other mapping (e.g. a hand-built
    context's plain dict) is read name by name, so a missing name raises `KeyError` as
    ``m[name]`` would. Unknown names are refused here, once, not at every read.
    """
    if not names:
        raise ValueError("metric_reader needs at least one metric name (see METRIC_NAMES)")
    unknown = [n for n in names if n not in _INDEX]
    if unknown:
        raise ValueError(f"unknown metric name(s) {unknown}; the names are METRIC_NAMES: {', '.join(METRIC_NAMES)}")
    if len(names) == 1:
        only = _INDEX[names[0]]
        pick: Callable[[tuple[Any, ...]], tuple[Any, ...]] = lambda values: (values[only],)
    else:
        pick = operator.itemgetter(*(_INDEX[n] for n in names))

    def read(metrics: Mapping[str, Any]) -> tuple[Any, ...]:
        if type(metrics) is BarMetrics:
            return pick(metrics.values_list)
        return tuple([metrics[n] for n in names])

    return read


class MetricsRecorder:
    """The per-bar metrics of one run.

    `measure(portfolio, log)` reads the portfolio's totals (as of its last mark or fill)
    and the log's counters, updates the running peak and maximum drawdown (unless told not
    to: see `fold`), and returns the `BarMetrics`; `record(metrics)` packs them (`struct`) as
    the next bar's row into blocks of 1,024 rows of float64: 8 bytes per value, no Python
    object per bar kept.
    A bar that records the very object recorded last (nothing was measured since: no
    position open, nothing filled or pending) is only counted; such a run of repeated rows
    is written in one numpy assignment when the next different row comes or when the rows
    are read. `columns()` gives the rows as one ``[len(METRIC_NAMES), bars]`` array, each metric
    contiguous, which polars wraps without a copy. Each block is an anonymous memory map, so
    with `release=True` it goes back to the system as soon as it is copied: the rows are
    never held twice (malloc would keep freed blocks of this size in the process).
    """

    __slots__ = ("initial_capital", "peak", "max_drawdown", "count", "released", "_blocks", "_last", "_written")

    def __init__(self, initial_capital: float) -> None:
        self.initial_capital = float(initial_capital)
        self.peak = self.initial_capital
        self.max_drawdown = 0.0
        #: rows recorded; those from `_written` on repeat `_last` and are not in the blocks yet
        self.count = 0
        self._written = 0
        self._last: Any = _NOTHING  # the BarMetrics recorded last
        self._blocks: list[mmap.mmap] = []
        self.released = False

    def __getstate__(self) -> dict[str, Any]:
        self._write_repeats()
        state = {name: getattr(self, name) for name in self.__slots__}
        state["_blocks"] = [bytes(block) for block in self._blocks]  # memory maps do not pickle
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        blocks = state.pop("_blocks")
        for name, value in state.items():
            setattr(self, name, value)
        self._blocks = []
        for data in blocks:
            block = _new_block()
            block[:] = data
            self._blocks.append(block)

    def measure(self, portfolio: "Portfolio", log: "RunLog", *, fold: bool = True) -> BarMetrics:
        """The metrics of `portfolio` now (see `METRIC_NAMES`).

        `fold=True` makes this measurement part of the running peak and maximum drawdown (every
        measurement of the run counts, pre-trade ones too). `fold=False` leaves them as they are
        (the returned values still include this measurement) until `fold(metrics)` is called.
        That is for a state that may turn out never to have existed: a bar's positions marked
        to its close, when an intrabar stop may still close one of them earlier in that bar.
        """
        cash, value, gross, unrealized, realized, fees, n_open, n_closed, borrow = portfolio.totals()
        equity = cash + value
        peak = self.peak
        if equity > peak:
            peak = equity
        # peak >= initial_capital > 0, so the division is defined; equity <= peak, so dd >= 0
        drawdown = 1.0 - equity / peak
        max_drawdown = self.max_drawdown
        if drawdown > max_drawdown:
            max_drawdown = drawdown
        if fold:
            self.peak, self.max_drawdown = peak, max_drawdown
        return BarMetrics(
            (
                equity,
                cash,
                value,
                gross,
                gross / equity if equity > 0 else 0.0,
                equity / self.initial_capital - 1.0,
                peak,
                drawdown,
                max_drawdown,
                n_open,
                realized,
                unrealized,
                fees,
                n_closed,
                log.orders_filled,
                log.orders_rejected,
                log.orders_reduced,
                log.decisions_skipped,
                borrow,
            )
        )

    def fold(self, metrics: BarMetrics) -> None:
        """Make a `measure(..., fold=False)` result part of the running peak and maximum drawdown."""
        values = metrics.values_list
        if values[_PEAK] > self.peak:
            self.peak = values[_PEAK]
        if values[_MAX_DRAWDOWN] > self.max_drawdown:
            self.max_drawdown = values[_MAX_DRAWDOWN]

    def record(self, metrics: BarMetrics) -> None:
        """Write `metrics` (a `measure` result) as the next bar's row."""
        if metrics is self._last:  # (most bars with nothing open: written later, in bulk)
            self.count += 1
            return
        if self._written != self.count:
            self._write_repeats()
        slot = self.count % _BLOCK_ROWS
        if slot == 0 or self.released:
            self._check_not_released()
            self._blocks.append(_new_block())
        _ROW.pack_into(self._blocks[-1], slot * _ROW.size, *metrics.values_list)
        self.count = self._written = self.count + 1
        self._last = metrics

    def columns(self, *, release: bool = False) -> np.ndarray:
        """The recorded rows as ``[len(METRIC_NAMES), bars recorded]``, one contiguous row per
        metric. `release=True` frees each block once copied (the recorder is then done)."""
        self._check_not_released()
        self._write_repeats()
        out = np.empty((len(METRIC_NAMES), self.count), dtype=np.float64)
        for k, block in enumerate(self._blocks):
            start = k * _BLOCK_ROWS
            stop = min(start + _BLOCK_ROWS, self.count)
            rows = np.frombuffer(block, dtype=np.float64).reshape(_BLOCK_ROWS, len(METRIC_NAMES))
            out[:, start:stop] = rows[: stop - start].T
            del rows
            if release:
                block.close()
        if release:
            self._blocks = []
            self._last = _NOTHING
            self.released = True
        return out

    def _write_repeats(self) -> None:
        """Write the rows counted since the last one written: each a copy of `_last`."""
        first, stop = self._written, self.count
        if first == stop:
            return
        self._check_not_released()
        row = np.array(self._last.values_list, dtype=np.float64)
        while first < stop:
            k, slot = divmod(first, _BLOCK_ROWS)
            if k == len(self._blocks):
                self._blocks.append(_new_block())
            n = min(stop - first, _BLOCK_ROWS - slot)
            rows = np.frombuffer(self._blocks[k], dtype=np.float64).reshape(_BLOCK_ROWS, len(METRIC_NAMES))
            rows[slot : slot + n] = row
            del rows  # (a block with a live view cannot be closed)
            first += n
        self._written = stop

    def _check_not_released(self) -> None:
        if self.released:
            raise ValueError("this recorder's rows were handed out by columns(release=True); it records no more")


def _new_block() -> mmap.mmap:
    """An anonymous, zero-filled memory map for `_BLOCK_ROWS` rows."""
    return mmap.mmap(-1, _BLOCK_ROWS * _ROW.size)
