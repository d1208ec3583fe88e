"""`ModelExitRule`: closes positions for a model's CLOSE and CLOSE_ALL decisions."""

from __future__ import annotations

from signalflow.core.enums import ExitReason
from signalflow.core.order import Order
from signalflow.core.state import StrategyState
from signalflow.strategy.component.base import ExitRule, record_skip
from signalflow.strategy.component.orders import check_probability, exit_order
from signalflow.strategy.model.cache import decisions_for, notify_run_start
from signalflow.strategy.model.context import ModelContext
from signalflow.strategy.model.decision import StrategyAction

__all__ = ["ModelExitRule"]


class ModelExitRule(ExitRule):
    """Turns the model's CLOSE / CLOSE_ALL decisions into exit orders.

    The exit reason is `meta["reason"]` if given, else "model" (CLOSE) or
    "model_close_all" (CLOSE_ALL). Skipped, counted and logged in `state.log`:
    confidence below `min_confidence`; CLOSE of an unknown, already closed or
    already closing `position_id`, or of a position of another pair; a pair
    with no bar at this timestamp. CLOSE_ALL of a pair with nothing open does nothing.
    """

    def __init__(self, model, *, min_confidence: float = 0.0) -> None:
        if not callable(getattr(model, "decide", None)):
            raise TypeError(f"`model` must have a decide(context) method, was {type(model).__name__}")
        self.model = model
        self.min_confidence = check_probability("min_confidence", min_confidence)

    def on_start(self, market) -> None:
        notify_run_start(self.model)

    def check_exits(self, context: ModelContext, state: StrategyState) -> list[Order]:
        decisions = decisions_for(self.model, context, state)
        if not decisions:
            return []
        orders: list[Order] = []
        closing: set[str] = set()
        portfolio = state.portfolio
        for d in decisions:
            action = d.action
            if action is StrategyAction.CLOSE:
                if d.confidence < self.min_confidence:
                    record_skip(state, context, d, f"confidence {d.confidence:g} below min_confidence {self.min_confidence:g}")
                    continue
                pos = portfolio.get_open(d.position_id)
                if pos is None:
                    known = d.position_id in portfolio.positions
                    why = "is already closed" if known else "is unknown"
                    record_skip(state, context, d, f"position_id {d.position_id!r} {why}")
                    continue
                if d.position_id in closing or not portfolio.is_closable(d.position_id):
                    record_skip(state, context, d, f"position_id {d.position_id!r} is already being closed")
                    continue
                if pos.pair != d.pair:
                    record_skip(state, context, d, f"position_id {d.position_id!r} belongs to {pos.pair!r}, not {d.pair!r}")
                    continue
                if d.pair not in context.prices:
                    record_skip(state, context, d, f"pair {d.pair!r} has no bar at this timestamp; it cannot be traded now")
                    continue
                reason = d.meta.get("reason", ExitReason.MODEL.value) if d.meta else ExitReason.MODEL.value
                closing.add(pos.id)
                orders.append(exit_order(pos, bar=context.bar_index, time=context.timestamp, reason=str(reason)))
            elif action is StrategyAction.CLOSE_ALL:
                targets = [p for p in portfolio.closable_positions() if p.pair == d.pair and p.id not in closing]
                if not targets:
                    continue
                if d.confidence < self.min_confidence:
                    record_skip(state, context, d, f"confidence {d.confidence:g} below min_confidence {self.min_confidence:g}")
                    continue
                if d.pair not in context.prices:
                    record_skip(state, context, d, f"pair {d.pair!r} has no bar at this timestamp; it cannot be traded now")
                    continue
                reason = d.meta.get("reason", ExitReason.MODEL_CLOSE_ALL.value) if d.meta else ExitReason.MODEL_CLOSE_ALL.value
                for pos in targets:
                    closing.add(pos.id)
                    orders.append(exit_order(pos, bar=context.bar_index, time=context.timestamp, reason=str(reason)))
        return orders
