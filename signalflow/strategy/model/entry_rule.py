"""`ModelEntryRule`: opens positions for a model's ENTER decisions."""

from __future__ import annotations

from signalflow.core.enums import PositionType, SignalType
from signalflow.core.order import Order
from signalflow.core.state import StrategyState
from signalflow.strategy.component.base import EntryRule, record_skip
from signalflow.strategy.component.orders import (
    check_fraction,
    check_max_positions,
    check_probability,
    entry_order,
)
from signalflow.strategy.model.cache import decisions_for, notify_run_start
from signalflow.strategy.model.context import ModelContext
from signalflow.strategy.model.decision import StrategyAction, StrategyDecision

__all__ = ["ModelEntryRule", "entry_side"]


def entry_side(decision: StrategyDecision, context: ModelContext) -> PositionType | str:
    """The side an ENTER decision opens, or the reason it cannot say.

    `meta["direction"]` ("long"/"short") wins; otherwise the pair's strongest
    signal of this bar decides: "fall" -> SHORT, "rise", "none" or no signal -> LONG.
    """
    direction = decision.meta.get("direction") if decision.meta else None
    if direction is not None:
        if direction == PositionType.LONG:  # the enum or its string value
            return PositionType.LONG
        if direction == PositionType.SHORT:
            return PositionType.SHORT
        return f"meta['direction'] must be 'long' or 'short', was {direction!r}"
    strongest = context.signals.strongest(decision.pair)
    if strongest is not None and strongest[0] == SignalType.FALL:
        return PositionType.SHORT
    return PositionType.LONG


class ModelEntryRule(EntryRule):
    """Turns the model's ENTER decisions into entry orders.

    - Size: `base_position_size` (a fraction of current equity) x the decision's
      `size_multiplier`, converted to a quantity at the fill price.
    - Side: see `entry_side`; a short needs `allow_shorts=True`, otherwise the
      decision is skipped (a "fall" signal never opens a long).
    - Skipped, counted and logged in `state.log`: confidence below
      `min_confidence`, a pair with no bar at this timestamp (or not in the run's
      market at all: the reason says so, e.g. a misspelt pair), `max_positions`
      reached (open + pending), shorts disabled.
    """

    def __init__(
        self,
        model,
        *,
        base_position_size: float = 0.02,
        max_positions: int = 10,
        min_confidence: float = 0.0,
        allow_shorts: bool = False,
    ) -> None:
        if not callable(getattr(model, "decide", None)):
            raise TypeError(f"`model` must have a decide(context) method, was {type(model).__name__}")
        self.model = model
        self.base_position_size = check_fraction("base_position_size", base_position_size)
        self.max_positions = check_max_positions(max_positions)
        self.min_confidence = check_probability("min_confidence", min_confidence)
        self.allow_shorts = bool(allow_shorts)
        #: The pairs of the run's market (set by `on_start`; None before any run).
        self.market_pairs: tuple[str, ...] | None = None

    def on_start(self, market) -> None:
        self.market_pairs = tuple(market.pairs)
        notify_run_start(self.model)

    def untradable_reason(self, pair: str) -> str:
        """Why an entry in `pair` cannot be made at this bar (it has no price in the context)."""
        pairs = self.market_pairs
        if pairs is not None and pair not in pairs:
            shown = ", ".join(map(repr, pairs[:10])) + (", ..." if len(pairs) > 10 else "")
            return f"pair {pair!r} is not in the market data (its pairs: {shown}); check the pair's spelling"
        return f"pair {pair!r} has no bar at this timestamp; it cannot be traded now"

    def check_entries(self, context: ModelContext, state: StrategyState) -> list[Order]:
        decisions = decisions_for(self.model, context, state)  # usually cached by ModelExitRule this bar
        if not decisions:
            return []
        orders: list[Order] = []
        open_count = state.portfolio.projected_open_count
        for d in decisions:
            if d.action is not StrategyAction.ENTER:
                continue
            if d.confidence < self.min_confidence:
                record_skip(state, context, d, f"confidence {d.confidence:g} below min_confidence {self.min_confidence:g}")
                continue
            if d.pair not in context.prices:
                record_skip(state, context, d, self.untradable_reason(d.pair))
                continue
            side = entry_side(d, context)
            if not isinstance(side, PositionType):
                record_skip(state, context, d, side)
                continue
            if side is PositionType.SHORT and not self.allow_shorts:
                record_skip(state, context, d, "short entry (fall signal) with allow_shorts=False")
                continue
            if open_count + len(orders) >= self.max_positions:
                record_skip(state, context, d, f"max_positions={self.max_positions} reached")
                continue
            reason = d.meta.get("reason", "model") if d.meta else "model"
            orders.append(
                entry_order(
                    state,
                    pair=d.pair,
                    position_type=side,
                    fraction=self.base_position_size * d.size_multiplier,
                    bar=context.bar_index,
                    time=context.timestamp,
                    reason=str(reason),
                    meta=d.meta,
                )
            )
        return orders
