"""`SignalEntryRule`: enter on every signal above a probability threshold (no model)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from signalflow.core.enums import PositionType, SignalType
from signalflow.core.order import Order
from signalflow.core.state import StrategyState
from signalflow.strategy.component.base import EntryRule
from signalflow.strategy.component.orders import (
    check_fraction,
    check_max_positions,
    check_probability,
    entry_order,
)

if TYPE_CHECKING:
    from signalflow.strategy.model.context import ModelContext

__all__ = ["SignalEntryRule"]


class SignalEntryRule(EntryRule):
    """Open a position for each signal with `probability >= min_probability`.

    "rise" opens a long; "fall" opens a short only with `allow_shorts=True`
    (never a long); "none" is ignored. Size: `base_position_size` of current
    equity. At most `max_positions` open at once; signals beyond it wait for
    a free slot (they are not orders, so nothing is counted).
    """

    def __init__(
        self,
        min_probability: float = 0.7,
        *,
        base_position_size: float = 0.02,
        max_positions: int = 10,
        allow_shorts: bool = False,
    ) -> None:
        self.min_probability = check_probability("min_probability", min_probability)
        self.base_position_size = check_fraction("base_position_size", base_position_size)
        self.max_positions = check_max_positions(max_positions)
        self.allow_shorts = bool(allow_shorts)

    def check_entries(self, context: ModelContext, state: StrategyState) -> list[Order]:
        frame = context.signals.value
        if frame.height == 0:
            return []
        orders: list[Order] = []
        slots = self.max_positions - state.portfolio.projected_open_count
        for pair, signal_type, probability in zip(
            frame["pair"].to_list(), frame["signal_type"].to_list(), frame["probability"].to_list()
        ):
            if len(orders) >= slots:
                break
            if probability < self.min_probability or pair not in context.prices:
                continue
            if signal_type == SignalType.RISE:
                side = PositionType.LONG
            elif signal_type == SignalType.FALL and self.allow_shorts:
                side = PositionType.SHORT
            else:
                continue
            orders.append(
                entry_order(
                    state,
                    pair=pair,
                    position_type=side,
                    fraction=self.base_position_size,
                    bar=context.bar_index,
                    time=context.timestamp,
                    reason=f"signal_{signal_type}",
                )
            )
        return orders
