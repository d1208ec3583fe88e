"""`BacktestRun`: one run, advanced bar by bar (what `BacktestRunner.run` and the Gymnasium env drive)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
import polars as pl

from signalflow.core.enums import FillAt, PositionType
from signalflow.core.errors import RunStateError
from signalflow.core.portfolio import Portfolio
from signalflow.core.state import StrategyState
from signalflow.core.trade import Trade
from signalflow.strategy.exporter import trades_frame
from signalflow.strategy.metrics import METRIC_NAMES, summarize
from signalflow.strategy.model.cache import put_decisions
from signalflow.strategy.model.context import ModelContext
from signalflow.strategy.runner.market_data import MarketData
from signalflow.strategy.runner.result import BacktestResult, BarReport

if TYPE_CHECKING:
    from signalflow.strategy.runner.backtest_runner import BacktestRunner

__all__ = ["BacktestRun"]

_LONG = PositionType.LONG


class BacktestRun:
    """A run over bars `[start, end)` of `market`, advanced one bar at a time.

    Per bar (all pairs at one timestamp)::

        ctx = run.begin_bar()   # reset the decision cache; fill orders pending for this open
                                # (fill_at="next_open"); mark positions to the close;
                                # record pre-trade metrics; return the bar's ModelContext
        run.put_decisions(model, decisions)   # optional: decide for `model` from outside
        report = run.end_bar()  # exit rules in order, then entry rules, fills at the close
                                # (or queued for the next open); post-trade metrics recorded

    `begin_bar()` returns None when no bar is left. With `skip_idle_bars`, bars
    with no signal, no open position and no pending order are recorded without
    calling any rule. `finish()` returns the `BacktestResult`.
    """

    def __init__(self, runner: "BacktestRunner", market: MarketData, *, start: int = 0, end: int | None = None) -> None:
        n = market.n_bars
        end = n if end is None else end
        if not (0 <= start < end <= n):
            raise RunStateError(f"bar range [{start}, {end}) must lie inside [0, {n}) and be non-empty")
        self.runner = runner
        self.market = market
        self.start, self.end = start, end
        self.fill_at = runner.fill_at
        self.initial_capital = runner.initial_capital
        self.state = StrategyState(strategy_id=runner.strategy_id, portfolio=Portfolio(cash=runner.initial_capital))
        self.broker = runner.broker
        self.broker.start(market=market, state=self.state, fill_at=self.fill_at)
        self.exit_rules = list(runner.exit_rules)
        self.entry_rules = list(runner.entry_rules)
        for rule in (*self.exit_rules, *self.entry_rules):
            rule.on_start(market)
        self.exporter = runner.exporter
        if self.exporter is not None:
            self.exporter.reset()
        self.skip_idle = runner.skip_idle_bars
        self._next = start
        self.bar: int | None = None
        self.context: ModelContext | None = None
        self._rows: list[list[float]] = []
        self._row_bars: list[int] = []
        self._peak = self.initial_capital
        self._max_dd = 0.0
        self._finished: BacktestResult | None = None
        self._bar_fill_start = 0
        self._bar_skip_start = 0
        self._bar_reject_start = 0
        self._idle = 0
        self._exported_fills = 0
        self._row: list[float] = []
        self._update_metrics()

    # -- public stepping API ------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """True when every bar of the range has been processed."""
        return self._next >= self.end and self.context is None

    @property
    def bars_done(self) -> int:
        """Number of bars recorded so far."""
        return len(self._rows)

    def begin_bar(self) -> ModelContext | None:
        """Open the next bar that needs a decision and return its context (None at the end)."""
        if self._finished is not None:
            raise RunStateError("this run is finished; start a new one with runner.start(...)")
        if self.context is not None:
            raise RunStateError(f"bar {self.bar} is open; call end_bar() before begin_bar()")
        log = self.state.log
        self._bar_fill_start = len(self.broker.fills)
        self._bar_skip_start = len(log.skipped)
        self._bar_reject_start = len(log.rejected)
        self._idle = 0
        while self._next < self.end:
            t = self._next
            self._next += 1
            self._open(t)
            if self.skip_idle and self._is_idle(t):
                self._record(t)
                self._idle += 1
                continue
            market = self.market
            self.context = ModelContext(
                timestamp=market.datetimes[t],
                signals=market.bar_signals[t],
                prices=market.prices_at(t),
                positions=self.state.portfolio.open_positions(),
                metrics=self.state.metrics,
                runtime=self.state.runtime,
                bar_index=t,
            )
            self.bar = t
            return self.context
        self.bar = None
        return None

    def put_decisions(self, model: Any, decisions: Iterable | None) -> None:
        """Use `decisions` as `model`'s decisions for the open bar (its rules will not call it)."""
        if self.context is None:
            raise RunStateError("no bar is open; call begin_bar() first")
        put_decisions(model, decisions, self.state)

    def end_bar(self) -> BarReport:
        """Run exit then entry rules on the open bar, fill, record post-trade metrics."""
        ctx = self.context
        if ctx is None:
            raise RunStateError("no bar is open; call begin_bar() first")
        t = ctx.bar_index
        state, broker = self.state, self.broker
        log = state.log
        before = (len(broker.fills), log.orders_rejected, log.orders_reduced, log.decisions_skipped)
        for rule in self.exit_rules:
            for order in rule.check_exits(ctx, state):
                broker.submit(order, t)
        for rule in self.entry_rules:
            for order in rule.check_entries(ctx, state):
                broker.submit(order, t)
        if before != (len(broker.fills), log.orders_rejected, log.orders_reduced, log.decisions_skipped):
            self._update_metrics()
        metrics = state.metrics
        self._record(t)
        self.context = None
        fills = broker.fills[self._bar_fill_start :]
        return BarReport(
            bar=t,
            timestamp=ctx.timestamp,
            fills=fills,
            closed=[state.portfolio.positions[f.position_id] for f in fills if not f.is_entry],
            skipped=log.skipped[self._bar_skip_start :],
            rejected=log.rejected[self._bar_reject_start :],
            metrics=metrics,
            idle_bars=self._idle,
        )

    def step(self, decisions: dict[Any, Iterable] | None = None) -> BarReport | None:
        """`begin_bar()`, optional `put_decisions` per model, `end_bar()`; None at the end."""
        if self.begin_bar() is None:
            return None
        for model, ds in (decisions or {}).items():
            self.put_decisions(model, ds)
        return self.end_bar()

    def finish(self) -> BacktestResult:
        """Process any bars left without deciding, and return the result (idempotent)."""
        if self._finished is not None:
            return self._finished
        if self.context is not None:
            raise RunStateError(f"bar {self.bar} is open; call end_bar() before finish()")
        while self.begin_bar() is not None:
            self.end_bar()
        last_bar = self._row_bars[-1] if self._row_bars else self.start
        positions = list(self.state.portfolio.positions.values())
        trades_df = trades_frame(Trade.from_position(p, last_bar=last_bar) for p in positions)
        metrics_df = self.metrics_frame()
        summary = summarize(metrics_df, trades_df, initial_capital=self.initial_capital) if metrics_df.height > 1 else summarize(metrics_df, trades_df, initial_capital=self.initial_capital, periods_per_year=1.0)
        summary["orders_unfilled"] = float(len(self.broker.pending_orders))
        summary["model_calls"] = float(self.state.log.model_calls)
        self._finished = BacktestResult(
            state=self.state,
            trades_df=trades_df,
            metrics_df=metrics_df,
            summary=summary,
            pending_orders=self.broker.pending_orders,
            skipped=list(self.state.log.skipped),
            rejected=list(self.state.log.rejected),
        )
        return self._finished

    def metrics_frame(self) -> pl.DataFrame:
        """Per-bar post-trade metrics recorded so far (`timestamp` + METRIC_NAMES)."""
        values = np.asarray(self._rows, dtype=np.float64).reshape(len(self._rows), len(METRIC_NAMES))
        ts = self.market.timestamps[np.asarray(self._row_bars, dtype=np.int64)] if self._rows else np.zeros(0, np.int64)
        columns: dict[str, Any] = {"timestamp": pl.Series("timestamp", ts, dtype=pl.Int64).cast(pl.Datetime("us"))}
        for i, name in enumerate(METRIC_NAMES):
            columns[name] = values[:, i]
        return pl.DataFrame(columns)

    # -- internals ------------------------------------------------------------------------------
    def _open(self, t: int) -> None:
        """Start bar t: clear the cache, fill pending orders at the open, mark, pre-trade metrics."""
        state = self.state
        state.reset_tick_cache()
        had_pending = bool(self.broker._pending)
        if had_pending:
            self.broker.fill_pending(t)
        portfolio = state.portfolio
        if portfolio.open_count or had_pending:
            mark = self.market.mark[t]
            dt = self.market.datetimes[t]
            index = self.market.pair_index
            for p in portfolio._open.values():
                price = mark[index[p.pair]]
                p.last_price = float(price)
                p.last_time = dt
            self._update_metrics()

    def _is_idle(self, t: int) -> bool:
        pf = self.state.portfolio
        return not pf.open_count and not pf.pending_entries and not self.market.signal_counts[t] and not self.broker._pending

    def _record(self, t: int) -> None:
        """Append the current metrics as bar t's row; export the bar and any closes."""
        self._rows.append(self._row)
        self._row_bars.append(t)
        exporter = self.exporter
        if exporter is not None:
            exporter.export_bar(self.market.datetimes[t], self.market.bar_signals[t], self.state.metrics, self.state)
            fills = self.broker.fills
            positions = self.state.portfolio.positions
            for f in fills[self._exported_fills :]:
                if not f.is_entry:
                    pos = positions[f.position_id]
                    exporter.export_position_close(pos, f.time, f.price, pos.exit_reason)
            self._exported_fills = len(fills)

    def _update_metrics(self) -> None:
        """Recompute the portfolio metrics into `state.metrics` (O(open positions))."""
        pf = self.state.portfolio
        pv = gross = upnl = 0.0
        for p in pf._open.values():
            q, lp, e = p.qty, p.last_price, p.entry_price
            gross += q * lp
            if p.position_type is _LONG:
                pv += q * lp
                upnl += q * (lp - e)
            else:
                pv += q * (2.0 * e - lp)
                upnl += q * (e - lp)
        cash = pf.cash
        equity = cash + pv
        if equity > self._peak:
            self._peak = equity
        peak = self._peak
        dd = 1.0 - equity / peak if peak > 0 else 0.0
        if dd < 0.0:
            dd = 0.0
        if dd > self._max_dd:
            self._max_dd = dd
        log = self.state.log
        row = [
            equity,
            cash,
            pv,
            gross,
            gross / equity if equity > 0 else 0.0,
            equity / self.initial_capital - 1.0,
            peak,
            dd,
            self._max_dd,
            float(pf.open_count),
            pf.realized_pnl,
            upnl,
            pf.fees_paid,
            float(pf.trades_closed),
            float(log.orders_filled),
            float(log.orders_rejected),
            float(log.orders_reduced),
            float(log.decisions_skipped),
        ]
        self._row = row
        self.state.metrics = dict(zip(METRIC_NAMES, row))
