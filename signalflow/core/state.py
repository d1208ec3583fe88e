"""`StrategyState`: what a strategy knows during a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from signalflow.core.portfolio import Portfolio

__all__ = ["StrategyState", "RunLog", "SkippedDecision", "RejectedOrder", "DECISION_CACHE_KEY"]

#: Key in `StrategyState.runtime` under which model decisions of the current bar
#: are cached (a dict: id(model) -> list[StrategyDecision]). Cleared every bar.
DECISION_CACHE_KEY = "_model_decisions"


@dataclass(frozen=True, slots=True)
class SkippedDecision:
    """A model decision that was not acted on, and why (e.g. unknown `position_id`)."""

    bar: int
    timestamp: datetime
    action: str
    pair: str | None
    position_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class RejectedOrder:
    """An order the broker did not fill (or filled reduced), and why."""

    bar: int
    timestamp: datetime
    pair: str
    position_id: str | None
    is_entry: bool
    reason: str
    reduced: bool = False


@dataclass(slots=True)
class RunLog:
    """Everything a run did not do as asked: nothing is dropped silently.

    Counters are cumulative over the run; the lists hold one record each.
    """

    orders_filled: int = 0
    orders_rejected: int = 0
    orders_reduced: int = 0
    decisions_skipped: int = 0
    model_calls: int = 0
    #: Bumped by every fill, rejection and skip: a cheap "did anything happen" check.
    events: int = 0
    skipped: list[SkippedDecision] = field(default_factory=list)
    rejected: list[RejectedOrder] = field(default_factory=list)

    def skip(self, record: SkippedDecision) -> None:
        self.events += 1
        self.decisions_skipped += 1
        self.skipped.append(record)

    def fill(self) -> None:
        self.events += 1
        self.orders_filled += 1

    def reject(self, record: RejectedOrder) -> None:
        self.events += 1
        if record.reduced:
            self.orders_reduced += 1
        else:
            self.orders_rejected += 1
        self.rejected.append(record)


@dataclass(slots=True)
class StrategyState:
    """Portfolio, latest metrics and free-form runtime state of one run.

    `metrics` holds the latest per-bar metrics (see
    `signalflow.strategy.metrics.METRIC_NAMES`): during a bar, before trading,
    they describe the bar's marked, pre-trade state; after the bar, its
    post-trade state. `runtime` is for user state (regime, ATR, ...) and the
    per-bar decision cache.
    """

    strategy_id: str
    portfolio: Portfolio
    metrics: Mapping[str, float] = field(default_factory=dict)
    runtime: dict[str, Any] = field(default_factory=dict)
    log: RunLog = field(default_factory=RunLog)

    def reset_tick_cache(self) -> None:
        """Forget the decisions cached for the previous bar (called at every bar start)."""
        self.runtime.pop(DECISION_CACHE_KEY, None)
