"""`VirtualSpotExecutor`: fill prices, fees and cash-limited sizing of a spot account."""

from __future__ import annotations

import math

from signalflow.core.enums import OrderSide
from signalflow.core.errors import ConfigError

__all__ = ["VirtualSpotExecutor"]


class VirtualSpotExecutor:
    """Simulated spot execution: no leverage, proportional fees and slippage.

    - Fill price: `price * (1 + slippage_pct)` for buys, `price * (1 - slippage_pct)` for sells.
    - Fee: `fee_rate * qty * fill_price`, paid in quote currency on every fill.
    - Entries (long or short) cost `notional + fee` in cash (a short's notional is
      locked as collateral). If cash is short, the notional is reduced to fit; if
      what is left is below `min_notional`, the order is rejected.
    """

    def __init__(self, fee_rate: float = 0.001, slippage_pct: float = 0.0, *, min_notional: float = 1e-8) -> None:
        for name, value in (("fee_rate", fee_rate), ("slippage_pct", slippage_pct)):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0.0 <= value < 0.1:
                raise ConfigError(f"`{name}` must be in [0, 0.1) (0.001 == 0.1%), was {value!r}")
        if not isinstance(min_notional, (int, float)) or not math.isfinite(min_notional) or min_notional < 0:
            raise ConfigError(f"`min_notional` must be >= 0 (quote currency), was {min_notional!r}")
        self.fee_rate = float(fee_rate)
        self.slippage_pct = float(slippage_pct)
        self.min_notional = float(min_notional)

    def fill_price(self, side: OrderSide, price: float) -> float:
        """The price a `side` order gets when the market price is `price`."""
        if side is OrderSide.BUY:
            return price * (1.0 + self.slippage_pct)
        return price * (1.0 - self.slippage_pct)

    def fee(self, qty: float, price: float) -> float:
        """Fee of a fill of `qty` at `price` (quote currency)."""
        return qty * price * self.fee_rate

    def size_entry(self, notional: float, price: float, cash: float) -> tuple[float, float, bool] | None:
        """`(qty, fee, reduced)` for an entry of `notional` at fill `price` with `cash` free, or None to reject."""
        if not notional > 0.0 or not math.isfinite(notional):
            return None
        reduced = False
        limit = cash / (1.0 + self.fee_rate) * (1.0 - 1e-12)
        if notional > limit:
            notional = limit
            reduced = True
        if notional <= self.min_notional or notional <= 0.0:
            return None
        qty = notional / price
        return qty, self.fee(qty, price), reduced
