"""`BacktestExporter`: per-bar state and closed trades of one run, written as parquet."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from pathlib import Path

import polars as pl

from signalflow.core.errors import ExportError
from signalflow.core.position import Position
from signalflow.core.signals import Signals
from signalflow.core.state import StrategyState
from signalflow.core.trade import Trade
from signalflow.strategy.exporter.atomic import check_compression, write_parquets_atomic
from signalflow.strategy.exporter.schema import BARS_SCHEMA, build_frame, trades_frame
from signalflow.core.bar_metrics import BarMetrics
from signalflow.strategy.metrics import METRIC_NAMES

__all__ = ["BacktestExporter", "BARS_FILE", "TRADES_FILE"]

BARS_FILE = "bars.parquet"
TRADES_FILE = "trades.parquet"


def _as_strings(column: pl.Series) -> list[str | None]:
    """Values of a String/Categorical/Enum column as Python strings."""
    if column.dtype != pl.String:
        column = column.cast(pl.String)
    return column.to_list()


class BacktestExporter:
    """Collect training data during a backtest; write `bars.parquet` and `trades.parquet`.

    Usage (the runner calls `reset()` at the start of every run, so an
    exporter never carries state from one run into the next)::

        exporter = BacktestExporter()
        for ts in timestamps:
            exporter.export_bar(ts, signals, state.metrics, state)
        exporter.export_position_close(position, exit_time, exit_price, "take_profit")
        exporter.finalize(Path("./training_data"))

    `bars.parquet` (`BARS_SCHEMA`): one row per signal of each bar, or one row
    with null `pair`/`signal_type`/`probability` for a bar without signals, so
    every bar appears; then `metric_<name>` for every name of `METRIC_NAMES`.
    `trades.parquet` (`TRADES_SCHEMA`): one row per closed position.

    Appending is cheap (plain Python column lists, no DataFrame per bar;
    about 2 µs for a bar without signals); frames are built once in
    `bars_df()` / `trades_df()`.
    """

    __slots__ = ("_ts", "_pairs", "_types", "_probs", "_metrics", "_bar_times", "_trades", "_trade_ids")

    def __init__(self) -> None:
        self.reset()

    # ------------------------------------------------------------------ recording
    def reset(self) -> None:
        """Forget every exported bar and trade (called by the runner at the start of a run)."""
        self._ts: list[datetime] = []  # one entry per row
        self._pairs: list[str | None] = []
        self._types: list[str | None] = []
        self._probs: list[float | None] = []
        self._metrics: list[float | None] = []  # row-major, len(METRIC_NAMES) per row
        self._bar_times: list[datetime] = []  # one entry per bar
        self._trades: list[Trade] = []
        self._trade_ids: set[str] = set()

    def export_bar(
        self,
        ts: datetime,
        signals: Signals | None,
        metrics: Mapping[str, float],
        state: StrategyState | None = None,
    ) -> None:
        """Record bar `ts`: its signals and its metrics.

        `signals` holds the bar's signals (`None` or empty: one row with null
        signal columns). `metrics` maps names of `METRIC_NAMES` to floats;
        a missing name is exported as null, names not in `METRIC_NAMES` are
        ignored (the file schema is fixed). `state` is accepted for the
        guide's call signature and not used. Bars must be exported in time
        order (it is how `bars_held` of positions closed outside the broker is
        counted).
        """
        if not isinstance(ts, datetime):
            raise ExportError(
                f"`ts` must be a datetime, was {type(ts).__name__} {ts!r}; "
                f"pass the bar's timestamp as a datetime"
            )
        self._bar_times.append(ts)
        values = metrics.values_list if type(metrics) is BarMetrics else list(map(metrics.get, METRIC_NAMES))
        if signals is None or signals.value.height == 0:
            self._ts.append(ts)
            self._pairs.append(None)
            self._types.append(None)
            self._probs.append(None)
            self._metrics.extend(values)
            return
        if not isinstance(signals, Signals):
            raise ExportError(
                f"`signals` must be a Signals or None, was {type(signals).__name__}; "
                f"wrap the bar's frame as Signals(frame)"
            )
        frame = signals.value
        k = frame.height
        self._ts.extend([ts] * k)
        self._pairs.extend(_as_strings(frame.get_column("pair")))
        self._types.extend(_as_strings(frame.get_column("signal_type")))
        self._probs.extend(frame.get_column("probability").to_list())
        self._metrics.extend(values * k)

    def export_position_close(
        self,
        position: Position,
        exit_time: datetime,
        exit_price: float,
        reason: str | Enum,
    ) -> None:
        """Record `position` as a closed trade, exited at `exit_price` (quote) at `exit_time`.

        If the broker already closed `position`, its gross `realized_pnl`,
        `fees` and `bars_held` are used as they are; if it is still open, its
        price PnL up to `exit_price` is realised here (no exit fee is known)
        and `bars_held` counts the exported bars after `entry_time` up to
        `exit_time`. `exit_time`, `exit_price` and `reason` (an `ExitReason`
        or string) are taken as given. Raises `ExportError` if a position with
        the same id was already exported: nothing closes twice.
        """
        if position.id in self._trade_ids:
            raise ExportError(
                f"`position` must be exported once, was `{position.id}` ({position.pair}) again; "
                f"a position closes only once, check the caller exports each close once"
            )
        reason_str = reason.value if isinstance(reason, Enum) else str(reason)
        exit_price = float(exit_price)
        if position.is_closed:
            realized = position.realized_pnl
        else:
            realized = position.realized_pnl + position.side * (exit_price - position.entry_price) * position.qty
        if position.exit_bar is not None:
            bars_held = position.exit_bar - position.entry_bar
        else:
            times = self._bar_times
            bars_held = bisect_right(times, exit_time) - bisect_right(times, position.entry_time)
        fees = position.fees_paid
        net = realized - fees
        notional = position.entry_notional
        trade = Trade(
            position_id=position.id,
            pair=position.pair,
            position_type=position.position_type.value,
            entry_time=position.entry_time,
            exit_time=exit_time,
            entry_price=position.entry_price,
            exit_price=exit_price,
            qty=position.qty,
            realized_pnl=realized,
            unrealized_pnl=0.0,
            fees=fees,
            net_pnl=net,
            return_pct=net / notional if notional > 0 else 0.0,
            exit_reason=reason_str,
            is_closed=True,
            bars_held=bars_held,
            last_price=exit_price,
        )
        self._trade_ids.add(position.id)
        self._trades.append(trade)

    # ------------------------------------------------------------------ reading
    @property
    def n_bars(self) -> int:
        """Number of bars exported since the last `reset()`."""
        return len(self._bar_times)

    @property
    def trades(self) -> list[Trade]:
        """The exported trades, in export order (a copy)."""
        return list(self._trades)

    def bars_df(self) -> pl.DataFrame:
        """All exported bar rows, with exactly `BARS_SCHEMA` (also when nothing was exported)."""
        head = build_frame(
            [self._ts, self._pairs, self._types, self._probs],
            pl.Schema(list(BARS_SCHEMA.items())[:4]),
            what="bars frame",
        )
        n_metrics = len(METRIC_NAMES)
        try:
            flat = pl.Series("metrics", self._metrics, dtype=pl.Float64)
        except Exception as exc:
            raise ExportError(
                f"`metrics` values must be floats or None, were not convertible "
                f"({type(exc).__name__}: {exc}); fix the metrics passed to `export_bar`"
            ) from exc
        metric_columns = [
            flat.gather_every(n_metrics, offset=j).alias(name)
            for j, name in enumerate(BARS_SCHEMA.names()[4:])
        ]
        return head.with_columns(metric_columns)

    def trades_df(self) -> pl.DataFrame:
        """All exported trades, with exactly `TRADES_SCHEMA` (also when none was exported)."""
        return trades_frame(self._trades)

    def finalize(self, path: Path | str, *, compression: str = "zstd") -> dict[str, Path]:
        """Write `bars.parquet` and `trades.parquet` into directory `path` (created if needed).

        Both files are written to temporary files in `path` first and moved
        into place with `os.replace` only when both succeeded; on failure the
        temporary files are removed, no partially written file exists, and
        `ExportError` names the file and the cause. Returns
        ``{"bars": <path>/bars.parquet, "trades": <path>/trades.parquet}``.
        Collected data is kept (call `reset()` to start over).
        """
        check_compression(compression)
        directory = Path(path)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(
                f"`path` must be a creatable directory, was `{directory}` "
                f"({type(exc).__name__}: {exc}); choose a writable location"
            ) from exc
        bars_path = directory / BARS_FILE
        trades_path = directory / TRADES_FILE
        write_parquets_atomic(
            {bars_path: self.bars_df(), trades_path: self.trades_df()}, compression=compression
        )
        return {"bars": bars_path, "trades": trades_path}
