"""Slippage models: the price a fill gets, given the bar price it is executed from.

An executor takes one slippage model (`VirtualSpotExecutor(slippage=...)`); `slippage_pct`
is shorthand for `ProportionalSlippage(slippage_pct)`. The bar price is the close of the
decision bar (`fill_at="close"`), the open of the pair's next bar (`"next_open"`) or a
rule's level inside the bar (stop / take-profit); buys fill above it, sells below it.

A slippage model has two methods:

- `start(market)`: called once when a run starts, with its `MarketData`, to precompute what
  it needs from the bars (the square-root model's volatility); it must read nothing of bar
  t's future.
- `fill_price(side, price, qty, bar, column)`: the fill price of `qty` base units at bar price
  `price` on bar `bar` of pair column `column`, or None when the model cannot price a fill
  on that bar (then `no_fill_reason(bar, column)` says why, and the order is rejected).

An entry's quantity depends on its fill price (``qty = notional / fill price``); models that
depend on `qty` are given the quantity at the bar price, ``notional / price``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import polars as pl

from signalflow.core.enums import OrderSide
from signalflow.core.errors import ConfigError
from signalflow.core.values import is_finite_real

if TYPE_CHECKING:
    from signalflow.data.market import MarketData

__all__ = [
    "SlippageModel",
    "ProportionalSlippage",
    "HalfSpreadSlippage",
    "SquareRootImpact",
    "check_slippage_model",
    "past_volatility",
]

_BUY = OrderSide.BUY


@runtime_checkable
class SlippageModel(Protocol):
    """The price a fill gets; see the module docstring."""

    def start(self, market: "MarketData") -> None: ...

    def fill_price(self, side: OrderSide, price: float, qty: float, bar: int, column: int) -> float | None: ...

    def no_fill_reason(self, bar: int, column: int) -> str: ...


def _check_fraction(name: str, value: object, *, hi: float, fix: str) -> None:
    if not is_finite_real(value) or not 0 <= value < hi:
        raise ConfigError(f"`{name}` must be a finite number in [0, {hi:g}), was {value!r}; {fix}")


@dataclass(frozen=True, slots=True)
class ProportionalSlippage:
    """Buys fill at ``price * (1 + pct)``, sells at ``price * (1 - pct)`` (0.0005 == 5 bps)."""

    pct: float = 0.0

    def __post_init__(self) -> None:
        _check_fraction("pct", self.pct, hi=0.1, fix="use a fraction of the price, e.g. 0.0005 (5 bps)")
        object.__setattr__(self, "pct", float(self.pct))  # a numpy scalar is stored as a Python float

    def start(self, market: "MarketData") -> None:
        return None

    def fill_price(self, side: OrderSide, price: float, qty: float, bar: int, column: int) -> float | None:
        if side is _BUY:
            return price * (1.0 + self.pct)
        return price * (1.0 - self.pct)

    def no_fill_reason(self, bar: int, column: int) -> str:
        return ""


class HalfSpreadSlippage:
    """Fills at the far side of the bid-ask spread: buys at ``price + spread / 2``, sells at
    ``price - spread / 2``, the bar price taken as the mid.

    - `HalfSpreadSlippage(spread_bps=4)`: a constant spread of 4 bps of the price
      (buys at ``price * (1 + 4 / 20_000)``).
    - `HalfSpreadSlippage(from_column=True)`: the bars' own `spread` column, the bar's
      bid-ask spread in quote currency (absolute), read on the fill bar.
    """

    __slots__ = ("spread_bps", "from_column", "_spread")

    def __init__(self, spread_bps: float | None = None, *, from_column: bool = False) -> None:
        if not isinstance(from_column, bool):
            raise ConfigError(f"`from_column` must be True or False, was {from_column!r}")
        if from_column == (spread_bps is not None):
            raise ConfigError(
                "give HalfSpreadSlippage either `spread_bps` (a constant spread, in basis points) or "
                "`from_column=True` (the bars' `spread` column), exactly one"
            )
        if spread_bps is not None:
            _check_fraction("spread_bps", spread_bps, hi=1000.0, fix="use basis points of the price, e.g. 4 (0.04%)")
        self.spread_bps = None if spread_bps is None else float(spread_bps)
        self.from_column = from_column
        self._spread: np.ndarray | None = None

    def start(self, market: "MarketData") -> None:
        if not self.from_column:
            return
        if market.spread is None:
            raise ConfigError(
                "HalfSpreadSlippage(from_column=True) needs a `spread` column in the bars (the bid-ask spread "
                "in quote currency); add one, or use HalfSpreadSlippage(spread_bps=...)"
            )
        self._spread = market.spread

    def fill_price(self, side: OrderSide, price: float, qty: float, bar: int, column: int) -> float | None:
        if self.spread_bps is not None:
            half = self.spread_bps / 20_000.0
            return price * (1.0 + half) if side is _BUY else price * (1.0 - half)
        if self._spread is None:
            raise ConfigError("HalfSpreadSlippage(from_column=True) was not started with a market; run it inside a broker")
        half = float(self._spread[bar, column]) / 2.0
        return price + half if side is _BUY else max(price - half, 0.0)

    def no_fill_reason(self, bar: int, column: int) -> str:
        return ""


    def __repr__(self) -> str:
        if self.from_column:
            return "HalfSpreadSlippage(from_column=True)"
        return f"HalfSpreadSlippage(spread_bps={self.spread_bps!r})"


def past_volatility(market: "MarketData", window: int) -> np.ndarray:
    """``[bars, pairs]`` standard deviation of a pair's log close-to-close returns over its last
    `window` returns *before* each bar (the returns ending at its earlier bars; bar t's own
    close is not used), 0.0 until it has two such returns, NaN where the pair has no bar."""
    out = np.full(market.close.shape, np.nan)
    for j in range(market.n_pairs):
        rows = np.flatnonzero(market.has_bar[:, j])
        if rows.size == 0:
            continue
        closes = market.close[rows, j]
        returns = pl.Series(np.diff(np.log(closes)))  # returns[i] ends at own bar i + 1
        std = returns.rolling_std(window_size=window, min_samples=2).fill_null(0.0).to_numpy()
        # own bar k may use returns ending at own bars 1..k-1: the std ending at returns[k - 2]
        vol = np.zeros(rows.size)
        if rows.size > 2:
            vol[2:] = std[: rows.size - 2]
        out[rows, j] = vol
    return out


def require_volumes(market: "MarketData", what: str) -> None:
    """A `ConfigError` if no bar of `market` has a positive volume, for a cost model (`what`)
    that needs volumes to fill anything (a pair or a bar without volume is left to the model:
    its orders are rejected and counted)."""
    if not market.has_volume():
        raise ConfigError(
            f"{what} needs bar volumes, but every bar has volume 0 (bars without a `volume` column get 0), so no "
            "order could ever fill; add the volumes, or use a cost model that does not need them "
            "(e.g. ProportionalSlippage, no max_volume_participation)"
        )


class SquareRootImpact:
    """Market impact that grows with the square root of the share of the bar's volume taken:
    buys fill at ``price * (1 + k * sigma * sqrt(qty / volume))``, sells at
    ``price * (1 - k * sigma * sqrt(qty / volume))``, with `volume` the fill bar's volume
    (base units) and `sigma` the standard deviation of the pair's log returns over its last
    `window` bars before the fill bar (`past_volatility`: past bars only). A sell's price is
    floored at 0. A bar with zero volume cannot be priced: the order is rejected.
    """

    __slots__ = ("k", "window", "_volatility", "_volume")

    def __init__(self, k: float = 1.0, *, window: int = 20) -> None:
        if not is_finite_real(k) or k < 0:
            raise ConfigError(f"`k` must be a finite number >= 0 (a multiple of the volatility), was {k!r}; e.g. 1.0")
        if isinstance(window, bool) or not isinstance(window, int) or window < 2:
            raise ConfigError(f"`window` must be an integer >= 2 (bars of past returns), was {window!r}; e.g. 20")
        self.k = float(k)
        self.window = window
        self._volatility: np.ndarray | None = None
        self._volume: np.ndarray | None = None

    def start(self, market: "MarketData") -> None:
        """Precompute the volatilities; refuse a market without any volume (every fill would be
        rejected: the run would never trade, and say so only in its rejection counts)."""
        require_volumes(market, repr(self))
        self._volatility = past_volatility(market, self.window)
        self._volume = market.volume

    def impact(self, qty: float, bar: int, column: int) -> float | None:
        """The relative price impact of `qty` on bar `bar` of pair `column`, or None on a zero-volume bar."""
        if self._volatility is None:
            raise ConfigError("SquareRootImpact was not started with a market; run it inside a broker")
        volume = float(self._volume[bar, column])
        if not volume > 0.0:
            return None
        return self.k * float(self._volatility[bar, column]) * math.sqrt(qty / volume)

    def fill_price(self, side: OrderSide, price: float, qty: float, bar: int, column: int) -> float | None:
        impact = self.impact(qty, bar, column)
        if impact is None:
            return None
        return price * (1.0 + impact) if side is _BUY else max(price * (1.0 - impact), 0.0)

    def no_fill_reason(self, bar: int, column: int) -> str:
        return "bar volume is 0: the square-root impact model cannot price a fill"


    def __repr__(self) -> str:
        return f"SquareRootImpact(k={self.k!r}, window={self.window!r})"


def check_slippage_model(name: str, model: object) -> SlippageModel:
    """`model` if it is a slippage model, else a `ConfigError`."""
    if not isinstance(model, SlippageModel):
        raise ConfigError(
            f"`{name}` must be a slippage model (an object with start(market), fill_price(side, price, qty, bar, "
            f"column) and no_fill_reason(bar, column), e.g. ProportionalSlippage(0.0005)), was "
            f"{type(model).__name__}: {model!r}"
        )
    return model
