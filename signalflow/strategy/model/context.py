"""`ModelContext`: everything a model may know at one bar, and nothing later."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from signalflow.core.position import Position
from signalflow.core.signals import Signals

__all__ = ["ModelContext"]


@dataclass(frozen=True, slots=True)
class ModelContext:
    """The view of one bar handed to `StrategyModel.decide`.

    Everything in it is known at the close of bar `timestamp`:

    - `signals`: this bar's signals only.
    - `prices`: close of every pair that has a bar at `timestamp` (the pairs that
      can be traded now), as a read-only mapping; a pair without a bar keeps its
      last price for marking but is absent here.
    - `positions`: open positions at the start of the bar, marked to this bar's close.
    - `metrics`: portfolio metrics at this bar's close, before this bar's trades
      (keys: `signalflow.strategy.metrics.METRIC_NAMES`).
    - `runtime`: the run's free-form state (regime, ATR, ...).
    - `bar_index`: index of the bar on the run's timestamp axis.

    The runner builds one per bar. For a model's unit test, build one by hand:
    ``ModelContext(timestamp=ts, signals=Signals(frame))``; `prices`, `positions`,
    `metrics` and `runtime` default to empty. Positions are read-only (see `Position`).
    """

    timestamp: datetime
    signals: Signals
    prices: Mapping[str, float] = field(default_factory=dict)
    positions: list[Position] = field(default_factory=list)
    metrics: Mapping[str, float] = field(default_factory=dict)
    runtime: dict[str, Any] = field(default_factory=dict)
    bar_index: int = 0
