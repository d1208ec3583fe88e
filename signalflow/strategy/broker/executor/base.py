"""`Executor`: what spot and margin executors share: a fee model, a slippage model, a
volume cap, and turning an order into a priced, sized `Quote`.

The account rules that differ (how much cash an entry needs, borrow costs, when positions are
liquidated) are the subclasses' (`VirtualSpotExecutor`, `VirtualMarginExecutor`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

from signalflow.core.enums import OrderSide
from signalflow.core.errors import ConfigError
from signalflow.core.values import is_finite_real
from signalflow.strategy.broker.fees import FeeModel, ProportionalFee, check_fee_model
from signalflow.strategy.broker.slippage import ProportionalSlippage, SlippageModel, check_slippage_model, require_volumes

if TYPE_CHECKING:
    from signalflow.core.portfolio import Portfolio
    from signalflow.data.market import MarketData

__all__ = ["Executor", "Quote", "LiquidationOrder"]


class Quote(NamedTuple):
    """A fill the executor would give an order now: `qty` base units at fill `price` (after
    slippage), paying `fee`; `margin` is the cash locked by a margin entry (None on spot);
    `reduced` says why an entry was made smaller than asked ("" if it was not)."""

    price: float
    qty: float
    fee: float
    margin: float | None = None
    reduced: str = ""


class LiquidationOrder(NamedTuple):
    """An open position the account closes by force at `price` (quote currency per base unit)."""

    position_id: str
    price: float


def _check_number(name: str, value: object, *, lo: float, hi: float | None, fix: str, lo_open: bool = False) -> float:
    ok = is_finite_real(value)
    ok = ok and (value > lo if lo_open else value >= lo) and (hi is None or value < hi)
    if not ok:
        bound = f"{'(' if lo_open else '['}{lo:g}, {'inf' if hi is None else f'{hi:g}'})"
        raise ConfigError(f"`{name}` must be a finite number in {bound}, was {value!r}; {fix}")
    return float(value)


class Executor:
    """Pricing and sizing shared by the executors.

    - Fee: `fee` (a fee model, see `signalflow.strategy.broker.fees`), or `fee_rate` as
      shorthand for `ProportionalFee(fee_rate)`; 0.001 when neither is given.
    - Fill price: `slippage` (a slippage model, see `signalflow.strategy.broker.slippage`),
      or `slippage_pct` as shorthand for `ProportionalSlippage(slippage_pct)`; none by default.
    - `max_volume_participation` (default None, no cap): an entry larger than that share of
      its fill bar's volume is reduced to it (counted in `orders_reduced`); on a bar with zero
      volume no order fills (rejected, with the reason). Exits always close the whole
      position (there are no partial closes); they are refused only on a zero-volume bar.
    - `min_notional`: an entry whose notional, after any reduction, is at or below this is
      rejected.
    - `intrabar_liquidation`: liquidation is checked against each bar's high/low instead of
      its mark (the subclasses say at which level).
    """

    #: Share of an entry's notional paid in cash (1 on spot, 1 / leverage on margin).
    margin_rate: float = 1.0

    def __init__(
        self,
        fee_rate: float | None = None,
        slippage_pct: float | None = None,
        *,
        fee: FeeModel | None = None,
        slippage: SlippageModel | None = None,
        max_volume_participation: float | None = None,
        min_notional: float = 1e-8,
        intrabar_liquidation: bool = False,
    ) -> None:
        if not isinstance(intrabar_liquidation, bool):
            raise ConfigError(f"`intrabar_liquidation` must be True or False, was {intrabar_liquidation!r}")
        #: Check liquidation against each bar's high/low (True) or its mark (False); see the subclasses.
        self.intrabar_liquidation = intrabar_liquidation
        if fee is not None and fee_rate is not None:
            raise ConfigError("give either `fee_rate` (a proportional fee) or `fee` (a fee model), not both")
        if slippage is not None and slippage_pct is not None:
            raise ConfigError("give either `slippage_pct` (a proportional slippage) or `slippage` (a slippage model), not both")
        if fee is None:
            rate = 0.001 if fee_rate is None else fee_rate
            if not is_finite_real(rate) or not 0.0 <= rate < 0.1:
                raise ConfigError(f"`fee_rate` must be in [0, 0.1) (0.001 == 0.1%), was {rate!r}")
            fee = ProportionalFee(float(rate))
        if slippage is None:
            pct = 0.0 if slippage_pct is None else slippage_pct
            if not is_finite_real(pct) or not 0.0 <= pct < 0.1:
                raise ConfigError(f"`slippage_pct` must be in [0, 0.1) (0.001 == 0.1%), was {pct!r}")
            slippage = ProportionalSlippage(float(pct))
        self.fee_model: FeeModel = check_fee_model("fee", fee)
        self.slippage_model: SlippageModel = check_slippage_model("slippage", slippage)
        if max_volume_participation is not None:
            max_volume_participation = _check_number(
                "max_volume_participation", max_volume_participation, lo=0.0, hi=None, lo_open=True,
                fix="use a share of the fill bar's volume, e.g. 0.1 (10%), or None for no cap",
            )
            if max_volume_participation > 1.0:
                raise ConfigError(
                    f"`max_volume_participation` must be at most 1 (the whole bar's volume), was {max_volume_participation!r}"
                )
        self.max_volume_participation = max_volume_participation
        if not is_finite_real(min_notional) or min_notional < 0:
            raise ConfigError(f"`min_notional` must be >= 0 (quote currency), was {min_notional!r}")
        self.min_notional = float(min_notional)
        self._volume = None

    # -- shorthands of the default models (what the reference guide's code reads) --------------
    @property
    def fee_rate(self) -> float | None:
        """The rate of a `ProportionalFee` without minimum, else None."""
        model = self.fee_model
        return model.rate if isinstance(model, ProportionalFee) and not model.minimum else None

    @property
    def slippage_pct(self) -> float | None:
        """The share of a `ProportionalSlippage`, else None."""
        model = self.slippage_model
        return model.pct if isinstance(model, ProportionalSlippage) else None

    # -- run lifecycle ----------------------------------------------------------------------------
    def start(self, market: "MarketData") -> None:
        """Bind to a run's market (the slippage model precomputes what it needs). With
        `max_volume_participation`, a market without any volume is refused (`require_volumes`)."""
        if self.max_volume_participation is not None:
            require_volumes(market, f"max_volume_participation={self.max_volume_participation:g}")
        self.slippage_model.start(market)
        self._volume = market.volume

    # -- pricing -------------------------------------------------------------------------------------
    def fill_price(self, side: OrderSide, price: float, qty: float = 0.0, bar: int = 0, column: int = 0) -> float | None:
        """The price a `side` order of `qty` gets when the bar price is `price` (None: cannot fill)."""
        return self.slippage_model.fill_price(side, price, qty, bar, column)

    def fee(self, qty: float, price: float, pair: str = "") -> float:
        """Fee of a fill of `qty` at `price` (quote currency)."""
        return self.fee_model.fee(pair, qty, price)

    def entry_budget(self, portfolio: "Portfolio") -> float:
        """Cash an entry may use now (spot: the free cash)."""
        return portfolio.cash

    def quote_entry(
        self, *, pair: str, column: int, side: OrderSide, notional: float, price: float, bar: int, budget: float
    ) -> Quote | str:
        """The fill of an entry of `notional` (quote currency) at bar price `price` on bar `bar`,
        or the reason it cannot fill. `budget`: the cash it may use (`entry_budget`)."""
        if not notional > 0.0 or not math.isfinite(notional):
            return f"not enough cash: {budget:.6f} free for {notional:.6f} notional"
        reduced = ""
        cap = self.max_volume_participation
        estimate = notional / price  # quantity at the bar price, for models that depend on size
        max_qty = None  # the volume cap in base units
        if cap is not None:
            volume = float(self._volume[bar, column])
            if not volume > 0.0:
                return f"bar volume is 0: no fill with max_volume_participation={cap:g}"
            max_qty = cap * volume
            if estimate > max_qty:
                estimate = max_qty
        fill = self.slippage_model.fill_price(side, price, estimate, bar, column)
        if fill is None:
            return self.slippage_model.no_fill_reason(bar, column)
        if not fill > 0.0:  # a sell floored at 0: no quantity can be sized at that price
            return f"fill price {fill:g} after slippage ({self.slippage_model!r}) at bar price {price:g}: no entry fills at 0"
        if max_qty is not None and notional / fill > max_qty:
            notional = max_qty * fill
            reduced = f"reduced to max_volume_participation={cap:g} of the bar's volume {volume:g}"
        limit = self.fee_model.max_notional(pair, budget, self.margin_rate)
        if notional > limit:
            notional = limit
            reduced = f"reduced to the free cash {budget:.6f}"
            if notional > self.min_notional and notional > 0.0:
                # a size-dependent slippage model prices the reduced quantity, not the one asked for
                estimate = notional / price if max_qty is None else min(notional / price, max_qty)
                fill = self.slippage_model.fill_price(side, price, estimate, bar, column)
        if notional <= self.min_notional or notional <= 0.0:
            return f"not enough cash: {budget:.6f} free for {notional:.6f} notional"
        qty = notional / fill
        margin = notional * self.margin_rate if self.is_margin else None
        return Quote(fill, qty, self.fee_model.fee(pair, qty, fill), margin, reduced)

    def quote_exit(self, *, pair: str, column: int, side: OrderSide, qty: float, price: float, bar: int) -> Quote | str:
        """The fill of an exit of `qty` at bar price `price` on bar `bar`, or the reason it cannot fill."""
        cap = self.max_volume_participation
        if cap is not None and not float(self._volume[bar, column]) > 0.0:
            return f"bar volume is 0: no fill with max_volume_participation={cap:g}"
        fill = self.slippage_model.fill_price(side, price, qty, bar, column)
        if fill is None:
            return self.slippage_model.no_fill_reason(bar, column)
        return Quote(fill, qty, self.fee_model.fee(pair, qty, fill))

    # -- account rules (the subclasses') -------------------------------------------------------------
    #: True for a margin account (positions lock margin; borrow; account-wide liquidation).
    is_margin: bool = False

    def borrow_cost(self, portfolio: "Portfolio", prices: list[float], columns: dict[str, int], years: float, bar: int) -> float:
        """Borrow cost accrued over `years` before bar `bar` (quote currency); none on spot."""
        return 0.0

    def liquidations(self, portfolio: "Portfolio", market: "MarketData", bar: int) -> list[LiquidationOrder]:
        """Positions to close by force at bar `bar` (after its mark), at what price; see the subclasses."""
        return []
