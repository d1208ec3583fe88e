"""`BacktestRunner`: wires rules, broker and data into runs."""

from __future__ import annotations

from typing import Any, Sequence

from signalflow.core.enums import FillAt
from signalflow.core.errors import ConfigError, RunStateError
from signalflow.core.state import StrategyState
from signalflow.core.values import is_finite_real
from signalflow.strategy.broker.backtest_broker import BacktestBroker
from signalflow.strategy.component.base import EntryRule, ExitRule
from signalflow.data.market import MarketData
from signalflow.strategy.runner.result import BacktestResult
from signalflow.strategy.runner.run import BacktestRun

__all__ = ["BacktestRunner"]

_PROGRESS_CHUNK = 2048


class BacktestRunner:
    """Runs a strategy (exit rules, entry rules, broker) over bars and signals.

    Bar loop, per timestamp (all pairs at once): clear the decision cache; fill
    orders pending for this open (`fill_at="next_open"`); mark positions to the
    close; record pre-trade metrics (what models see); exit rules in order;
    entry rules; fills at the close (`fill_at="close"`) or queued for the next
    open; record the bar's post-trade metrics.

    `run(raw_data, signals)` returns the final `StrategyState`; the last run's
    `trades_df`, `metrics_df`, `summary` and full `result` stay on the runner
    until the next run. `start(...)` gives the step-wise `BacktestRun` that
    `run()` itself drives.

    `periods_per_year`: bars per year for the annualised summary figures (Sharpe, Sortino,
    annual return). None infers it from the median bar spacing over a 365-day year
    (`metrics.periods_per_year`), which is right for markets that trade around the clock;
    for markets with closed hours pass the real rate (e.g. 252 for daily stock bars, about
    252 * 78 = 19,656 for 5-minute bars of a 6.5-hour session), since the spacing alone
    would count the closed hours as bars (365 daily, 105,120 five-minute bars a year).
    """

    def __init__(
        self,
        strategy_id: str = "backtest",
        *,
        broker: BacktestBroker | None = None,
        entry_rules: Sequence[EntryRule] = (),
        exit_rules: Sequence[ExitRule] = (),
        initial_capital: float = 10_000.0,
        fill_at: str | FillAt = "close",
        exporter: Any = None,
        show_progress: bool = False,
        skip_idle_bars: bool = False,
        periods_per_year: float | None = None,
    ) -> None:
        if not is_finite_real(initial_capital) or initial_capital <= 0:
            raise ConfigError(f"`initial_capital` must be a positive number, was {initial_capital!r}")
        if periods_per_year is not None and not (is_finite_real(periods_per_year) and periods_per_year > 0):
            raise ConfigError(f"`periods_per_year` must be a positive number of bars per year or None (inferred from "
                              f"the bar spacing), was {periods_per_year!r}; e.g. 252 for daily stock bars")
        try:
            self.fill_at = FillAt(fill_at)
        except ValueError:
            raise ConfigError(f"`fill_at` must be 'close' or 'next_open', was {fill_at!r}") from None
        for kind, rules, method in (("entry_rules", entry_rules, "check_entries"), ("exit_rules", exit_rules, "check_exits")):
            for i, rule in enumerate(rules):
                if not callable(getattr(rule, method, None)):
                    raise ConfigError(f"`{kind}[{i}]` must have a {method}(context, state) method, was {type(rule).__name__}")
        self.strategy_id = strategy_id
        self.broker = broker if broker is not None else BacktestBroker()
        self.entry_rules = list(entry_rules)
        self.exit_rules = list(exit_rules)
        self.initial_capital = float(initial_capital)
        self.exporter = exporter
        self.show_progress = show_progress
        self.skip_idle_bars = bool(skip_idle_bars)
        self.periods_per_year = None if periods_per_year is None else float(periods_per_year)
        self._result: BacktestResult | None = None

    def start(self, raw_data: Any, signals: Any = None, *, start: int = 0, end: int | None = None) -> BacktestRun:
        """A step-wise run over bars `[start, end)` (indices on the timestamp axis).

        `raw_data` is a long-format OHLCV polars DataFrame, a container holding
        one, or a prebuilt `MarketData` (reuse it to start many runs cheaply).
        """
        return BacktestRun(
            market=MarketData.build(raw_data, signals),
            broker=self.broker,
            entry_rules=self.entry_rules,
            exit_rules=self.exit_rules,
            strategy_id=self.strategy_id,
            initial_capital=self.initial_capital,
            fill_at=self.fill_at,
            exporter=self.exporter,
            skip_idle_bars=self.skip_idle_bars,
            periods_per_year=self.periods_per_year,
            start=start,
            end=end,
        )

    def run(self, raw_data: Any, signals: Any = None, *, start: int = 0, end: int | None = None) -> StrategyState:
        """Run every bar and return the final state (results: `result`, `trades_df`, ...)."""
        run = self.start(raw_data, signals, start=start, end=end)
        if self.show_progress:
            self._run_with_progress(run)
        else:
            run.run_to_end()
        self._result = run.finish()
        return self._result.state

    def _run_with_progress(self, run: BacktestRun) -> None:
        from tqdm.auto import tqdm

        with tqdm(total=run.end - run.start, desc=f"backtest {self.strategy_id}", unit="bar", mininterval=0.5) as bar:
            done = 0
            while run.begin_bar() is not None:
                run.end_bar()
                if run.bars_done - done >= _PROGRESS_CHUNK:
                    bar.update(run.bars_done - done)
                    done = run.bars_done
            bar.update(run.bars_done - done)

    @property
    def result(self) -> BacktestResult:
        """The last finished run's result."""
        if self._result is None:
            raise RunStateError("no run has finished yet; call run(raw_data, signals) first")
        return self._result

    @property
    def trades_df(self):
        """One row per position of the last run (closed or still open)."""
        return self.result.trades_df

    @property
    def metrics_df(self):
        """Per-bar post-trade metrics of the last run."""
        return self.result.metrics_df

    @property
    def summary(self) -> dict[str, float]:
        """Summary statistics of the last run (see `signalflow.strategy.metrics.summarize`)."""
        return self.result.summary
