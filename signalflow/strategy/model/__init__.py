"""External model integration: the `StrategyModel` protocol, its decisions and rules.

See the "External Model Integration" guide: a model's `decide(context)` is
called once per bar; `ModelExitRule` acts on its CLOSE / CLOSE_ALL decisions
and `ModelEntryRule` on its ENTER decisions.
"""

from signalflow.strategy.model.cache import cached_decisions, decisions_for, put_decisions
from signalflow.strategy.model.context import NO_PENDING_ORDERS, ModelContext, PendingOrders, context_with_pending
from signalflow.strategy.model.decision import MAX_SIZE_MULTIPLIER, StrategyAction, StrategyDecision
from signalflow.strategy.model.entry_rule import ModelEntryRule
from signalflow.strategy.model.exit_rule import ModelExitRule
from signalflow.strategy.model.protocol import StrategyModel

__all__ = [
    "MAX_SIZE_MULTIPLIER",
    "NO_PENDING_ORDERS",
    "ModelContext",
    "ModelEntryRule",
    "ModelExitRule",
    "PendingOrders",
    "StrategyAction",
    "StrategyDecision",
    "StrategyModel",
    "cached_decisions",
    "context_with_pending",
    "decisions_for",
    "put_decisions",
]
