"""`StrategyModel`: the one method an external model implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from signalflow.strategy.model.context import ModelContext
from signalflow.strategy.model.decision import StrategyDecision

__all__ = ["StrategyModel"]


@runtime_checkable
class StrategyModel(Protocol):
    """Anything with ``decide(context) -> list[StrategyDecision]``.

    Called at most once per bar (decisions are cached for the bar), after the
    bar's close is known and before the bar's orders are placed. A model may
    also define ``on_run_start()``; the model rules call it when a run starts
    (e.g. to reset a recurrent policy's hidden state).
    """

    def decide(self, context: ModelContext) -> list[StrategyDecision]: ...
