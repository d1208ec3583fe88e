"""`BacktestRun`: one run, advanced bar by bar (what `BacktestRunner.run` and the Gymnasium env drive)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Iterator

import numpy as np
import polars as pl

from signalflow.core.bar_metrics import BarMetrics
from signalflow.core.enums import PositionType
from signalflow.core.errors import RunStateError
from signalflow.core.portfolio import Portfolio
from signalflow.core.slots import slot_setters, slot_twin
from signalflow.core.state import DECISION_CACHE_KEY, StrategyState
from signalflow.core.trade import Trade
from signalflow.strategy.component.base import NoOrdersBefore, promises_quiet_bars
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

# ModelContext is a frozen dataclass; the runner builds each bar's context as a plain
# twin with the same slots and then makes it a ModelContext (the same object a
# generated __init__ would give, at a quarter of the cost).
_ContextTwin = slot_twin(ModelContext)
_new_metrics = object.__new__
(_set_metric_values,) = slot_setters(BarMetrics, "values_list")
_POSITIONS_VALUE, _GROSS_EXPOSURE, _UNREALIZED_PNL = (
    METRIC_NAMES.index(name) for name in ("positions_value", "gross_exposure", "unrealized_pnl")
)


def _rule_orders(check: Any, orders: Any) -> Iterable:
    """A rule's result that is not a plain list: any iterable of orders (None is an error)."""
    if orders is None:
        raise TypeError(
            f"{getattr(check, '__qualname__', check)}() returned None; return a list of orders ([] for none)"
        )
    return orders


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

    A run pickles and deep-copies at any point (a copy continues exactly as the
    original would). If a bar raises, the run is left half-updated and every
    further call raises `RunStateError` naming the bar and the error.
    """

    def __init__(self, runner: "BacktestRunner", market: MarketData, *, start: int = 0, end: int | None = None) -> None:
        n = market.n_bars
        end = n if end is None else end
        if not (isinstance(start, (int, np.integer)) and isinstance(end, (int, np.integer)) and 0 <= start < end <= n):
            raise RunStateError(f"bar range [{start}, {end}) must be non-empty and inside [0, {n}]")
        self.runner = runner
        self.market = market
        self.start, self.end = int(start), int(end)
        self.fill_at = runner.fill_at
        self.initial_capital = runner.initial_capital
        self.state = StrategyState(strategy_id=runner.strategy_id, portfolio=Portfolio(cash=runner.initial_capital))
        self.broker = runner.broker
        self.broker.start(market=market, state=self.state, fill_at=self.fill_at)
        # Rules that fill inside the bar go first (stable otherwise): see ExitRule.
        self.exit_rules = tuple(sorted(runner.exit_rules, key=lambda r: not getattr(r, "fills_intrabar", False)))
        self.entry_rules = tuple(runner.entry_rules)
        for rule in (*self.exit_rules, *self.entry_rules):
            rule.on_start(market)
        self.exporter = runner.exporter
        if self.exporter is not None:
            self.exporter.reset()
        self.skip_idle = runner.skip_idle_bars
        self.bar: int | None = None
        self.context: ModelContext | None = None
        self._next = self.start
        # Rows are tuples of numbers: the garbage collector untracks them, so a
        # long run does not make every collection walk all past rows.
        self._rows: list[tuple[float, ...]] = []
        self._row: tuple[float, ...] = ()
        self._peak = self.initial_capital
        self._max_dd = 0.0
        self._finished: BacktestResult | None = None
        self._marks = (0, 0, 0)
        self._idle = 0
        self._exported_fills = 0
        self._failed: str | None = None
        self._portfolio = self.state.portfolio
        self._log = self.state.log
        self._book_version = -1
        self._book: list[tuple[Any, int, float, float, bool]] = []
        self._long_book: list[tuple[Any, int, float]] | None = None
        self._cost_basis = 0.0
        self._update_metrics()
        self._loop = self._bars()

    def __getstate__(self) -> dict[str, Any]:
        # The loop is a generator (not picklable): it is rebuilt from where the run stands.
        state = self.__dict__.copy()
        del state["_loop"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._loop = self._bars(self.context)

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
        self._check_not_failed()
        if self.context is not None:
            raise RunStateError(f"bar {self.bar} is open; call end_bar() before begin_bar()")
        if self._finished is not None:
            raise RunStateError("this run is finished; start a new one with runner.start(...)")
        self._check_owner()
        self._check_not_inside()
        log = self.state.log
        self._marks = (len(self.broker.fills), len(log.skipped), len(log.rejected))
        self._idle = 0
        ctx = self.context = next(self._loop, None)
        if ctx is not None:
            self.bar = ctx.bar_index
        return ctx

    def put_decisions(self, model: Any, decisions: Iterable | None) -> None:
        """Use `decisions` as `model`'s decisions for the open bar (its rules will not call it)."""
        self._check_not_failed()
        if self.context is None:
            raise RunStateError("no bar is open; call begin_bar() first")
        put_decisions(model, decisions, self.state)

    def end_bar(self) -> BarReport:
        """Run exit then entry rules on the open bar, fill, record post-trade metrics; report the bar."""
        self._check_not_failed()
        ctx = self.context
        if ctx is None:
            raise RunStateError("no bar is open; call begin_bar() first")
        self._check_owner()
        self._check_not_inside()
        next(self._loop)
        self.context = None
        state = self.state
        log = state.log
        fill_start, skip_start, reject_start = self._marks
        bar_fills = self.broker.fills[fill_start:]
        positions = state.portfolio.positions
        return BarReport(
            bar=ctx.bar_index,
            timestamp=ctx.timestamp,
            fills=bar_fills,
            closed=[positions[f.position_id] for f in bar_fills if not f.is_entry],
            skipped=log.skipped[skip_start:],
            rejected=log.rejected[reject_start:],
            metrics=state.metrics,
            idle_bars=self._idle,
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
        self._loop.close()

    def close(self) -> None:
        """Abandon the run where it stands (e.g. an environment reset mid-episode): no further
        bar is processed, an open bar is dropped unended. `finish()` still reports the bars ended
        so far. Frees the run's loop at once rather than at the next garbage collection."""
        self._check_not_inside()
        self.end = self._next
        self.context = None
        self.bar = None
        self._loop.close()

    def run_to_end(self) -> None:
        """Process every remaining bar (rules decide; nothing injected). Used by `BacktestRunner.run`."""
        self._check_not_failed()
        if self.context is not None:
            raise RunStateError(f"bar {self.bar} is open; call end_bar() first")
        self._check_owner()
        self._check_not_inside()
        self._loop.close()  # paused between bars (or not started): the state is all on the run
        self._loop = self._bars(stepped=False)
        for _ in self._loop:
            pass

    def finish(self) -> BacktestResult:
        """Process any bars left (rules decide) and return the result (idempotent)."""
        if self._finished is not None:
            return self._finished
        self.run_to_end()
        last_bar = self.start + len(self._rows) - 1
        positions = list(self.state.portfolio.positions.values())
        trades_df = trades_frame(Trade.from_position(p, last_bar=last_bar) for p in positions)
        metrics_df = self.metrics_frame()
        ppy = None if metrics_df.height > 1 else 1.0
        summary = summarize(metrics_df, trades_df, initial_capital=self.initial_capital, periods_per_year=ppy)
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
        n = len(self._rows)
        values = np.asarray(self._rows, dtype=np.float64).reshape(n, len(METRIC_NAMES))
        ts = self.market.timestamps[self.start : self.start + n]
        columns: dict[str, Any] = {"timestamp": pl.Series("timestamp", ts, dtype=pl.Int64).cast(pl.Datetime("us"))}
        for i, name in enumerate(METRIC_NAMES):
            columns[name] = values[:, i]
        return pl.DataFrame(columns)

    def _check_not_failed(self) -> None:
        """A bar that raised left the run half-updated: it cannot go on."""
        if self._failed is not None:
            raise RunStateError(
                f"this run cannot continue: {self._failed}. Fix the cause and start a new run with runner.start(...)"
            )

    def _check_not_inside(self) -> None:
        """Rules and models run inside the loop: they cannot drive the run themselves."""
        if self._loop.gi_running:
            raise RunStateError(
                "begin_bar()/end_bar()/run_to_end()/close() was called from inside the bar loop "
                "(by a rule or a model); drive the run only from outside"
            )

    def _check_owner(self) -> None:
        """A runner's broker serves one run at a time: a newer `runner.start()` invalidates this run."""
        if self.broker._state is not self.state:
            raise RunStateError(
                "this run's runner started a newer run, which now owns the broker; a run cannot continue "
                "after its runner starts another (use one runner per concurrent run)"
            )

    # -- the bar loop ----------------------------------------------------------------------------
    def _bars(self, open_context: ModelContext | None = None, *, stepped: bool = True) -> Iterator[ModelContext | None]:
        """The bar loop, one generator for every way of driving a run.

        Stepped, per bar it yields the bar's context once the bar is opened (the
        decision point: `begin_bar()` returns it), then None once the bar is ended
        (`end_bar()`). Not stepped (`run_to_end()`), the same code runs every bar
        without pausing. Locals are bound once per run, not once per bar.
        `open_context`: resume at the decision point of that (open) bar, as after
        unpickling a run.
        """
        state = self.state
        runtime = state.runtime
        portfolio = self._portfolio
        open_positions = portfolio._open
        log = self._log
        broker = self.broker
        submit = broker.submit
        market = self.market
        bar_prices = market._prices  # `market.prices_at(t)` once built
        datetimes, bar_signals, mark_rows = market.datetimes, market.bar_signals, market.mark_rows
        signal_counts = market.signal_counts
        # per exit rule: [its check, the bar before which it promised no orders, at portfolio
        # version, whether its promises count (see `promises_quiet_bars`)]
        exit_slots = [[rule.check_exits, -1, -1, promises_quiet_bars(rule)] for rule in self.exit_rules]
        entry_checks = tuple(rule.check_entries for rule in self.entry_rules)
        rows, exporter, skip_idle = self._rows, self.exporter, self.skip_idle
        measure, update_metrics = self._measure, self._update_metrics
        ctx = open_context
        t = -1 if ctx is None else ctx.bar_index
        try:
            while True:
                if ctx is None:
                    t = self._next
                    if t >= self.end:
                        break
                    self._next = t + 1
                    # -- open the bar: forget last bar's decisions, fill orders due at this
                    #    open, mark positions to the close, measure (pre-trade)
                    if DECISION_CACHE_KEY in runtime:
                        del runtime[DECISION_CACHE_KEY]  # state.reset_tick_cache(), inlined
                    had_pending = broker._pending  # (the list as of the open: fill_pending replaces it)
                    if had_pending:
                        broker.fill_pending(t)
                    if open_positions:
                        # values summed position by position, in opening order: exactly
                        # `Portfolio.equity`'s arithmetic
                        if self._book_version != portfolio.version:
                            self._open_book()
                        mark = mark_rows[t]
                        dt = datetimes[t]
                        longs = self._long_book
                        if longs is not None:  # longs only: value = gross, the same sums
                            gross = 0.0
                            for p, j, q in longs:
                                lp = mark[j]
                                p.last_price = lp
                                p.last_time = dt
                                gross += q * lp
                            pv = gross
                        else:
                            pv = gross = 0.0
                            for p, j, q, e2, long in self._book:
                                lp = mark[j]
                                p.last_price = lp
                                p.last_time = dt
                                value = q * lp
                                gross += value
                                pv += value if long else q * (e2 - lp)
                        measure(pv, gross, pv - self._cost_basis)
                    elif had_pending:
                        update_metrics()
                    if skip_idle and not open_positions and not broker._pending and not signal_counts[t]:
                        self._record(t)
                        self._idle += 1
                        continue
                    prices = bar_prices[t]
                    ctx = _ContextTwin(
                        datetimes[t],
                        bar_signals[t],
                        prices if prices is not None else market.prices_at(t),
                        list(open_positions.values()),
                        state.metrics,
                        runtime,
                        t,
                    )
                    ctx.__class__ = ModelContext
                    if stepped:
                        yield ctx  # (`begin_bar` records it as the open bar)
                # -- end the bar: exit rules in order, then entry rules; post-trade metrics
                events, version = log.events, portfolio.version
                for slot in exit_slots:
                    check, quiet_before, quiet_version, trusted = slot
                    if t < quiet_before and quiet_version == portfolio.version:
                        continue  # the rule promised no orders yet (NoOrdersBefore)
                    orders = check(ctx, state)
                    if type(orders) is list:
                        if orders:  # (iterating an empty list costs more than this test)
                            for order in orders:
                                submit(order, t)
                    elif type(orders) is NoOrdersBefore and not orders:
                        if trusted:
                            slot[1] = orders.bar
                            slot[2] = portfolio.version
                    else:
                        for order in _rule_orders(check, orders):
                            submit(order, t)
                for check in entry_checks:
                    orders = check(ctx, state)
                    if type(orders) is list:
                        if orders:
                            for order in orders:
                                submit(order, t)
                    else:
                        for order in _rule_orders(check, orders):
                            submit(order, t)
                if log.events != events:
                    if portfolio.version != version:
                        update_metrics()
                    else:  # skips or rejections only: cash and positions are as measured
                        self._recount()
                if exporter is None:
                    rows.append(self._row)
                else:
                    self._record(t)
                ctx = None
                if stepped:
                    yield None
        except GeneratorExit:  # closed, or the run was dropped unfinished
            raise
        except StopIteration as exc:  # would surface as "generator raised StopIteration"
            self._failed = f"bar {t} raised StopIteration (an exhausted iterator's next() in a rule or model?)"
            raise RunStateError(f"a rule or model raised StopIteration at bar {t}") from exc
        except BaseException as exc:  # `t`: the bar being opened or ended
            self._failed = f"bar {t} raised {type(exc).__name__}: {exc}"
            raise
        self.bar = None

    def _record(self, t: int) -> None:
        """Append the current metrics as bar t's row; export the bar and any closes."""
        self._rows.append(self._row)
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

    def _open_book(self) -> list[tuple[Any, int, float, float, bool]]:
        """Open positions, in opening order, as `(position, pair column, qty, 2 * entry price,
        is long)`, and their cost basis (sum of qty * entry price); rebuilt only when a position
        opens or closes. A long is worth ``qty * price``, a short ``qty * (2 * entry - price)``
        (collateral + unrealised PnL): either way unrealised PnL = value - qty * entry.
        `_long_book` holds `(position, pair column, qty)` when every open position is long
        (the usual spot book, marked with fewer steps), else None."""
        pf = self._portfolio
        if self._book_version != pf.version:
            index = self.market.pair_index
            self._book = book = [
                (p, index[p.pair], p.qty, 2.0 * p.entry_price, p.position_type is _LONG) for p in pf._open.values()
            ]
            all_long = all(entry[4] for entry in book)
            self._long_book = [(p, j, q) for p, j, q, _, _ in book] if all_long else None
            self._cost_basis = sum(p.qty * p.entry_price for p in pf._open.values())
            self._book_version = pf.version
        return self._book

    def _update_metrics(self) -> None:
        """Recompute the portfolio metrics into `state.metrics` (O(open positions)), at the marks
        the positions hold (after fills: new positions at their fill price); the same sums as the
        marking in `_bars`."""
        pv = gross = 0.0
        for p, _, q, e2, long in self._open_book():
            value = q * p.last_price
            gross += value
            pv += value if long else q * (e2 - p.last_price)
        self._measure(pv, gross, pv - self._cost_basis)

    def _recount(self) -> None:
        """`state.metrics` with the log's counters brought up to date, for a bar whose rules only
        skipped decisions or had orders rejected: no position opened or closed and no cash moved
        (every fill opens or closes a position), so measuring again from the bar's marked
        totals gives the same values, with the counters as they are now."""
        row = self._row
        self._measure(row[_POSITIONS_VALUE], row[_GROSS_EXPOSURE], row[_UNREALIZED_PNL])

    def _measure(self, pv: float, gross: float, upnl: float) -> None:
        """Build `state.metrics` (and this bar's metrics row) from the marked position totals."""
        pf = self._portfolio
        log = self._log
        cash = pf.cash
        equity = cash + pv
        peak = self._peak
        if equity > peak:
            peak = self._peak = equity
        # peak >= initial_capital > 0 and equity <= peak, so 0 <= dd (correctly rounded division)
        dd = 1.0 - equity / peak
        max_dd = self._max_dd
        if dd > max_dd:
            max_dd = self._max_dd = dd
        row = (
            equity,
            cash,
            pv,
            gross,
            gross / equity if equity > 0 else 0.0,
            equity / self.initial_capital - 1.0,
            peak,
            dd,
            max_dd,
            len(pf._open),
            pf.realized_pnl,
            upnl,
            pf.fees_paid,
            pf.trades_closed,
            log.orders_filled,
            log.orders_rejected,
            log.orders_reduced,
            log.decisions_skipped,
        )
        self._row = row
        metrics = _new_metrics(BarMetrics)
        _set_metric_values(metrics, row)
        self.state.metrics = metrics
