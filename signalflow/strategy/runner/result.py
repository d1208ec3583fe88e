"""`BacktestResult` and `BarReport`: what a run and one of its bars produced."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from signalflow.core.order import Fill, Order
from signalflow.core.position import Position
from signalflow.core.state import RejectedOrder, SkippedDecision, StrategyState

__all__ = ["BacktestResult", "BarReport"]


@dataclass(slots=True)
class BarReport:
    """What happened on one bar of a stepped run (all lists are of this bar only).

    `idle_bars` counts bars processed without decisions just before this one
    (`skip_idle_bars=True`); their fills, if any, are included.
    """

    bar: int
    timestamp: datetime
    fills: list[Fill] = field(default_factory=list)
    closed: list[Position] = field(default_factory=list)
    skipped: list[SkippedDecision] = field(default_factory=list)
    rejected: list[RejectedOrder] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    idle_bars: int = 0


@dataclass(slots=True)
class BacktestResult:
    """A finished run.

    - `trades_df`: one row per position, closed or still open at the end
      (schema `signalflow.strategy.exporter.TRADES_SCHEMA`).
    - `metrics_df`: one row per bar: `timestamp` then `METRIC_NAMES`, each the
      bar's post-trade state.
    - `summary`: `signalflow.strategy.metrics.summarize` of the two.
    - `pending_orders`: orders still waiting for a fill when the data ended
      (`fill_at="next_open"` on the last bar): reported, not dropped.
    """

    state: StrategyState
    trades_df: pl.DataFrame
    metrics_df: pl.DataFrame
    summary: dict[str, float]
    pending_orders: list[Order]
    skipped: list[SkippedDecision]
    rejected: list[RejectedOrder]
