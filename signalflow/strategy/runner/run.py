"""`BacktestRun`: one run, advanced bar by bar (what `BacktestRunner.run` and the Gymnasium env drive)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import polars as pl

from signalflow.core.bar_metrics import METRIC_NAMES, MetricsRecorder
from signalflow.core.enums import FillAt
from signalflow.core.errors import RunStateError
from signalflow.core.portfolio import Portfolio
from signalflow.core.state import StrategyState
from signalflow.core.trade import Trade, trades_frame
from signalflow.data.market import BarCursor, MarketData
from signalflow.strategy.broker.backtest_broker import BacktestBroker
from signalflow.strategy.component.base import EntryRule, ExitRule
from signalflow.strategy.metrics import summarize
from signalflow.strategy.model.cache import put_decisions
from signalflow.strategy.model.context import ModelContext
from signalflow.strategy.runner.result import BacktestResult, BarReport

__all__ = ["BacktestRun"]


def _returned_none(check: Any) -> TypeError:
    """The error for a rule whose check returned None instead of a list of orders."""
    return TypeError(f"{getattr(check, '__qualname__', check)}() returned None; return a list of orders ([] for none)")


def _fills_intrabar(rule: ExitRule) -> bool:
    """True for an exit rule that fills inside the bar (see `ExitRule.fills_intrabar`)."""
    return bool(getattr(rule, "fills_intrabar", False))


def _skips_bars(rule: ExitRule) -> bool:
    """True if the runner may act on `rule.next_check_bar`: its class overrides the hook and
    `check_exits` was not replaced on the instance (a replacement could close on any bar)."""
    overrides = type(rule).next_check_bar is not ExitRule.next_check_bar
    return overrides and "check_exits" not in getattr(rule, "__dict__", {})


class BacktestRun:
    """A run over bars `[start, end)` of `market`, advanced one bar at a time.

    Per bar (all pairs at one timestamp)::

        ctx = run.begin_bar()   # reset the decision cache; fill orders pending for this
                                # open (fill_at="next_open"); mark positions to the close;
                                # pre-trade metrics; return the bar's ModelContext
        run.put_decisions(model, decisions)   # optional: decide for `model` from outside
        report = run.end_bar()  # exit rules in order, then entry rules; fills at the close
                                # (or queued for the next open); post-trade metrics recorded

    `begin_bar()` returns None when no bar is left. With `skip_idle_bars`, bars
    with no signal, no open position and no pending order are recorded without
    calling any rule (`BarReport.idle_bars` counts them). `finish()` returns
    the `BacktestResult`; `stop()` ends the run after the last ended bar and
    `close()` abandons it where it stands (an open bar is dropped).

    The accounting is the portfolio's (`state.portfolio`): the run marks it to each
    bar's prices and records its metrics (`MetricsRecorder`, one numpy row per bar);
    the broker applies fills to it. A run pickles and deep-copies at any point (a copy
    continues exactly as the original would). If a bar raises, the run is left
    half-updated and every further call raises `RunStateError` naming the bar and the error.
    """

    def __init__(
        self,
        *,
        market: MarketData,
        broker: BacktestBroker,
        entry_rules: Sequence[EntryRule],
        exit_rules: Sequence[ExitRule],
        strategy_id: str,
        initial_capital: float,
        fill_at: FillAt,
        exporter: Any = None,
        skip_idle_bars: bool = False,
        periods_per_year: float | None = None,
        start: int = 0,
        end: int | None = None,
    ) -> None:
        n = market.n_bars
        end = n if end is None else end
        if not (isinstance(start, (int, np.integer)) and isinstance(end, (int, np.integer)) and 0 <= start < end <= n):
            raise RunStateError(f"bar range [{start}, {end}) must be non-empty and inside [0, {n}]")
        self.market = market
        self.bars = BarCursor(market)
        self.start, self.end = int(start), int(end)
        self.fill_at = fill_at
        self.initial_capital = initial_capital
        self.periods_per_year = periods_per_year  # None: inferred from the bar spacing (`summarize`)
        self.state = StrategyState(strategy_id=strategy_id, portfolio=Portfolio(cash=initial_capital))
        self.broker = broker
        broker.start(market=market, state=self.state, fill_at=fill_at)
        # Rules that fill inside the bar go first (stable otherwise): see ExitRule.
        self.exit_rules = tuple(sorted(exit_rules, key=lambda r: not _fills_intrabar(r)))
        self._n_intrabar = sum(map(_fills_intrabar, self.exit_rules))
        self.entry_rules = tuple(entry_rules)
        for rule in (*self.exit_rules, *self.entry_rules):
            rule.on_start(market)
        self.exporter = exporter
        if exporter is not None:
            exporter.reset()
        self.skip_idle = bool(skip_idle_bars)
        self.recorder = MetricsRecorder(initial_capital)
        self.state.metrics = self.recorder.measure(self.state.portfolio, self.state.log)
        self.bar: int | None = None
        self.context: ModelContext | None = None
        self._next = self.start
        # per exit rule: the bar before which it promised no orders, and the portfolio
        # version the promise was made at (see ExitRule.next_check_bar)
        self._skips_bars = tuple(_skips_bars(rule) for rule in self.exit_rules)
        self._quiet: list[tuple[int, int]] = [(-1, -1)] * len(self.exit_rules)
        self._marks = (0, 0, 0)
        self._idle = 0
        self._exported_fills = 0
        self._in_bar = False
        self._failed: str | None = None
        self._finished: BacktestResult | None = None

    # -- public stepping API ------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """True when every bar of the range has been processed."""
        return self._next >= self.end and self.context is None

    @property
    def bars_done(self) -> int:
        """Number of bars recorded so far."""
        return self.recorder.count

    def begin_bar(self) -> ModelContext | None:
        """Open the next bar that needs a decision and return its context (None at the end)."""
        self._check_can_drive()
        if self.context is not None:
            raise RunStateError(f"bar {self.bar} is open; call end_bar() before begin_bar()")
        if self._finished is not None:
            raise RunStateError("this run is finished; start a new one with runner.start(...)")
        log = self.state.log
        self._marks = (len(self.broker.fills), len(log.skipped), len(log.rejected))
        self._idle = 0
        ctx = self.context = self._guarded(self._open_next_bar)
        self.bar = None if ctx is None else ctx.bar_index
        return ctx

    def put_decisions(self, model: Any, decisions: Iterable | None) -> None:
        """Use `decisions` as `model`'s decisions for the open bar (its rules will not call it)."""
        self._check_not_failed()
        if self.context is None:
            raise RunStateError("no bar is open; call begin_bar() first")
        put_decisions(model, decisions, self.state)

    def end_bar(self) -> BarReport:
        """Run exit then entry rules on the open bar, fill, record post-trade metrics; report the bar."""
        self._check_can_drive()
        ctx = self.context
        if ctx is None:
            raise RunStateError("no bar is open; call begin_bar() first")
        self._guarded(self._end_bar, ctx)
        self.context = None
        state = self.state
        log = state.log
        fill_start, skip_start, reject_start = self._marks
        bar_fills = self.broker.fills[fill_start:]
        closed = []
        if bar_fills:
            positions = state.portfolio.positions
            closed = [positions[f.position_id] for f in bar_fills if not f.is_entry]
        # (positional, in field order: bar, timestamp, fills, closed, skipped, rejected, metrics,
        # idle_bars; a keyword call costs about twice as much, once per bar)
        return BarReport(
            ctx.bar_index, ctx.timestamp, bar_fills, closed, log.skipped[skip_start:], log.rejected[reject_start:],
            state.metrics, self._idle,
        )

    def step(self, decisions: dict[Any, Iterable] | None = None) -> BarReport | None:
        """`begin_bar()`, `put_decisions` for each model given, `end_bar()`; None at the end."""
        if self.begin_bar() is None:
            return None
        for model, ds in (decisions or {}).items():
            self.put_decisions(model, ds)
        return self.end_bar()

    def stop(self) -> None:
        """End the run after the last ended bar (e.g. an environment terminated); `finish()` then reports up to it."""
        self._check_not_failed()
        if self.context is not None:
            raise RunStateError(f"bar {self.bar} is open; call end_bar() before stop()")
        self.end = self._next
        self.bar = None

    def close(self) -> None:
        """Abandon the run where it stands (e.g. an environment reset mid-episode): no further
        bar is processed, an open bar is dropped unended. `finish()` still reports the bars ended
        so far."""
        self._check_not_inside()
        self.end = self._next
        self.context = None
        self.bar = None

    def run_to_end(self) -> None:
        """Process every remaining bar (rules decide; nothing injected). Used by `BacktestRunner.run`."""
        self._check_can_drive()
        if self.context is not None:
            raise RunStateError(f"bar {self.bar} is open; call end_bar() first")
        self._guarded(self._run_remaining_bars)
        self.bar = None

    def finish(self) -> BacktestResult:
        """Process any bars left (rules decide) and return the result (idempotent)."""
        if self._finished is not None:
            return self._finished
        self.run_to_end()
        portfolio = self.state.portfolio
        last_bar = self.start + self.recorder.count - 1
        trades_df = trades_frame(Trade.from_position(p, last_bar=last_bar) for p in portfolio.positions.values())
        metrics_df = self._metrics_frame(release=True)  # the run is over: the rows are not needed twice
        # (one bar: the spacing is unknown, so the annualised figures are 0.0, as `summarize` says)
        summary = summarize(metrics_df, trades_df, initial_capital=self.initial_capital,
                            periods_per_year=self.periods_per_year)
        summary["orders_unfilled"] = float(len(self.broker.pending_orders))
        summary["liquidations"] = float(self.broker.liquidations)
        summary["liquidation_shortfall"] = portfolio.shortfall
        summary["borrow_paid"] = portfolio.borrow_paid
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
        """Per-bar post-trade metrics recorded so far (`timestamp` + METRIC_NAMES), built from
        the recorder's columns (polars wraps them without a copy)."""
        if self._finished is not None:
            return self._finished.metrics_df
        return self._metrics_frame(release=False)

    def _metrics_frame(self, *, release: bool) -> pl.DataFrame:
        values = self.recorder.columns(release=release)
        ts = self.market.timestamps[self.start : self.start + values.shape[1]]
        columns: dict[str, Any] = {"timestamp": pl.Series("timestamp", ts, dtype=pl.Int64).cast(pl.Datetime("us"))}
        for name, column in zip(METRIC_NAMES, values):
            columns[name] = column
        return pl.DataFrame(columns)

    # -- guards ---------------------------------------------------------------------------------
    def _check_not_failed(self) -> None:
        """A bar that raised left the run half-updated: it cannot go on."""
        if self._failed is not None:
            raise RunStateError(
                f"this run cannot continue: {self._failed}. Fix the cause and start a new run with runner.start(...)"
            )

    def _check_not_inside(self) -> None:
        """Rules and models run inside a bar: they cannot drive the run themselves."""
        if self._in_bar:
            raise RunStateError(
                "begin_bar()/end_bar()/run_to_end()/close() was called from inside the bar loop "
                "(by a rule or a model); drive the run only from outside"
            )

    def _check_can_drive(self) -> None:
        """Not failed, not called from inside the bar loop, and still the broker's run."""
        if self._failed is None and not self._in_bar and self.broker.serves(self.state):
            return  # (every step passes here: the three checks below only say which one failed)
        self._check_not_failed()
        self._check_not_inside()
        # A runner's broker serves one run at a time: a newer `runner.start()` invalidates this run.
        if not self.broker.serves(self.state):
            raise RunStateError(
                "this run's runner started a newer run, which now owns the broker; a run cannot continue "
                "after its runner starts another (use one runner per concurrent run)"
            )

    def _guarded(self, step: Any, *args: Any) -> Any:
        """Run `step(*args)`; if it raises, the run is marked failed (it is half-updated)."""
        self._in_bar = True
        try:
            return step(*args)
        except StopIteration as exc:  # would end a caller's loop over a generator silently
            bar = self._next - 1
            self._failed = f"bar {bar} raised StopIteration (an exhausted iterator's next() in a rule or model?)"
            raise RunStateError(f"a rule or model raised StopIteration at bar {bar}") from exc
        except BaseException as exc:
            bar = self._next - 1
            self._failed = f"bar {bar} raised {type(exc).__name__}: {exc}"
            raise
        finally:
            self._in_bar = False

    # -- one bar ----------------------------------------------------------------------------------
    def _run_remaining_bars(self) -> None:
        while (ctx := self._open_next_bar()) is not None:
            self._end_bar(ctx)

    def _open_next_bar(self) -> ModelContext | None:
        """Open bars from `_next` on until one needs a decision; its context (None at the end).

        Opening bar t: forget last bar's decisions, fill orders due at this open, mark the
        positions to the bar's prices and measure (pre-trade). With `skip_idle_bars`, a bar
        with no signal, no position and no pending order is recorded as it stands.
        """
        state, market, broker, bars = self.state, self.market, self.broker, self.bars
        portfolio = state.portfolio
        while self._next < self.end:
            t = self._next
            self._next = t + 1
            state.reset_tick_cache()
            changed = broker.has_pending
            if changed:
                rejected = len(state.log.rejected)
                broker.fill_pending(t)
                if len(state.log.rejected) != rejected:
                    # a pending exit that did not fill leaves its position open, which a rule's
                    # quiet-bar promise (made while the exit was pending) did not account for
                    self._quiet = [(-1, -1)] * len(self.exit_rules)
            time = bars.datetime_at(t)
            if portfolio.open_count:
                portfolio.mark(bars.mark_row(t), market.pair_index, time)
                broker.settle(t)  # borrow, liquidations
                changed = True
            if changed:
                # With intrabar exit rules, this pre-trade state (positions marked to the close)
                # counts towards the running peak only once those rules have run (`_end_bar`):
                # a position they close inside the bar was never worth its close.
                fold = not (self._n_intrabar and portfolio.open_count)
                state.metrics = self.recorder.measure(portfolio, state.log, fold=fold)
            if (
                self.skip_idle
                and not portfolio.open_count
                and not broker.has_pending
                and not bars.signal_count(t)
            ):
                self._record(t, time, None)
                self._idle += 1
                continue
            # (positional: a keyword call costs twice as much, once per bar)
            return ModelContext(
                time, bars.signals_at(t), bars.prices_at(t), portfolio.open_positions(), state.metrics, state.runtime, t
            )
        return None

    def _end_bar(self, ctx: ModelContext) -> None:
        """Exit rules in order (skipping those that promised quiet bars), entry rules, then the
        bar's post-trade metrics."""
        state, broker = self.state, self.broker
        portfolio, log = state.portfolio, state.log
        t = ctx.bar_index
        events = log.events
        for i, rule in enumerate(self.exit_rules):
            if i == self._n_intrabar and i:  # the intrabar rules have run: see _open_next_bar
                self._fold_pre_trade(events)
            quiet_until, quiet_version = self._quiet[i]
            if t < quiet_until and quiet_version == portfolio.version:
                continue
            orders = rule.check_exits(ctx, state)
            if orders is None:
                raise _returned_none(rule.check_exits)
            for order in orders:  # any iterable of orders
                broker.submit(order, t)
            if self._skips_bars[i]:
                k = rule.next_check_bar(ctx, state)
                self._quiet[i] = (-1, -1) if k is None else (int(k), portfolio.version)
        if self._n_intrabar == len(self.exit_rules) and self._n_intrabar:
            self._fold_pre_trade(events)
        for rule in self.entry_rules:
            orders = rule.check_entries(ctx, state)
            if orders is None:
                raise _returned_none(rule.check_entries)
            for order in orders:
                broker.submit(order, t)
        if log.events != events:  # a fill, rejection or skip: measure again
            state.metrics = self.recorder.measure(portfolio, log)
        self._record(t, ctx.timestamp, ctx.signals)

    def _fold_pre_trade(self, events: int) -> None:
        """After the intrabar exit rules of a bar: count its pre-trade state towards the running
        peak, or, if those rules filled something, the state they left at the close instead."""
        state = self.state
        if state.log.events != events:
            state.metrics = self.recorder.measure(state.portfolio, state.log)
        else:
            self.recorder.fold(state.metrics)

    def _record(self, t: int, time: Any, signals: Any) -> None:
        """Record the current metrics as bar t's row; export the bar and any closes."""
        self.recorder.record(self.state.metrics)
        exporter = self.exporter
        if exporter is None:
            return
        state = self.state
        exporter.export_bar(time, self.bars.signals_at(t) if signals is None else signals, state.metrics, state)
        fills = self.broker.fills
        positions = state.portfolio.positions
        for f in fills[self._exported_fills :]:
            if not f.is_entry:
                pos = positions[f.position_id]
                exporter.export_position_close(pos, f.time, f.price, pos.exit_reason)
        self._exported_fills = len(fills)
