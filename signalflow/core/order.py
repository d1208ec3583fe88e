"""`Order` and `Fill`: what rules ask the broker for, and what the broker did."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from signalflow.core.enums import OrderSide, PositionType

__all__ = ["Order", "Fill"]


@dataclass(slots=True)
class Order:
    """A request to open a position (`position_id` is None) or close one.

    Entry orders carry a target `notional` in quote currency; the broker
    converts it to a quantity at the fill price. Exit orders always close the
    whole position `position_id`. `price`, when set, is a level (stop or
    take-profit) at which the order fills on the bar it is placed, whatever
    the runner's `fill_at`.
    """

    pair: str
    side: OrderSide
    position_type: PositionType
    notional: float = 0.0
    position_id: str | None = None
    reason: str = ""
    created_bar: int = 0
    created_time: datetime | None = None
    price: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_entry(self) -> bool:
        return self.position_id is None


@dataclass(frozen=True, slots=True)
class Fill:
    """An executed order: `qty` base units at `price`, paying `fee` (quote currency).

    The broker builds it and the portfolio applies it (`Portfolio.apply`): an entry fill
    opens position `position_id`, an exit fill closes it. `time` and `bar` are those of the
    bar it filled on (its close, its open with `fill_at="next_open"`, or a level inside it).
    Slippage paid is ``(price - market_price) * qty`` for a buy, ``(market_price - price) * qty``
    for a sell.
    """

    pair: str
    side: OrderSide
    position_type: PositionType
    qty: float
    price: float
    fee: float
    time: datetime
    bar: int
    position_id: str
    is_entry: bool
    reason: str = ""
    #: The bar price the fill was priced from, before slippage (None if not recorded).
    market_price: float | None = None
    #: Cash locked as initial margin by a margin-account entry (``notional / leverage``);
    #: None for a spot entry and for exits.
    margin: float | None = None
