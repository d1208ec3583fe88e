"""Helpers that turn a sizing or exit choice into an `Order`."""

from __future__ import annotations

from typing import Any

from signalflow.core.enums import OrderSide, PositionType
from signalflow.core.errors import ConfigError
from signalflow.core.order import Order
from signalflow.core.position import Position
from signalflow.core.state import StrategyState
from signalflow.core.values import is_finite_real, is_integer

__all__ = ["entry_order", "exit_order", "check_fraction", "check_max_positions", "check_probability"]


def entry_order(
    state: StrategyState,
    *,
    pair: str,
    position_type: PositionType,
    fraction: float,
    bar: int,
    time,
    reason: str,
    meta: dict[str, Any] | None = None,
) -> Order:
    """An order to open a position worth `fraction` of current equity.

    The notional is fixed now (equity marked to this bar's close, after this
    bar's exits); the broker converts it to a quantity at the fill price and
    reduces it if cash (including the fee) is short. Raises `ConfigError` unless `fraction`
    is a finite number > 0 (it may exceed 1 on a margin account).
    """
    if not is_finite_real(fraction) or not fraction > 0.0:
        raise ConfigError(
            f"`fraction` of entry_order must be a finite share of equity > 0 (0.1 == 10%), was {fraction!r}; "
            "return no order instead of a zero-sized one"
        )
    notional = fraction * state.portfolio.equity  # (equity <= 0 after a ruin: a 0 notional, rejected)
    side = OrderSide.BUY if position_type is PositionType.LONG else OrderSide.SELL
    return Order(
        pair=pair,
        side=side,
        position_type=position_type,
        notional=max(notional, 0.0),
        reason=reason,
        created_bar=bar,
        created_time=time,
        meta=dict(meta) if meta else {},
    )


def exit_order(position: Position, *, bar: int, time, reason: str, price: float | None = None) -> Order:
    """An order that closes the whole of `position` (at `price` if given, else per `fill_at`)."""
    side = OrderSide.SELL if position.position_type is PositionType.LONG else OrderSide.BUY
    return Order(
        pair=position.pair,
        side=side,
        position_type=position.position_type,
        position_id=position.id,
        reason=reason,
        created_bar=bar,
        created_time=time,
        price=price,
    )


def check_fraction(name: str, value: float, *, upper: float = 1.0) -> float:
    if not is_finite_real(value) or not 0.0 < value <= upper:
        raise ConfigError(f"`{name}` must be a fraction of equity in (0, {upper:g}], was {value!r}")
    return float(value)


def check_probability(name: str, value: float) -> float:
    if not is_finite_real(value) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"`{name}` must be in [0, 1], was {value!r}")
    return float(value)


def check_max_positions(value: int) -> int:
    if not is_integer(value) or value < 1:
        raise ConfigError(f"`max_positions` must be an integer >= 1, was {value!r}")
    return int(value)
