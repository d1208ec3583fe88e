"""`BacktestBroker`: owns the pending orders of a run and applies fills to the portfolio."""

from __future__ import annotations

from typing import TYPE_CHECKING

from signalflow.core.enums import ExitReason, FillAt, OrderSide, PositionType
from signalflow.core.order import Fill, Order
from signalflow.core.state import RejectedOrder, StrategyState
from signalflow.strategy.broker.executor.base import Executor, Quote
from signalflow.strategy.broker.executor.margin import SECONDS_PER_YEAR
from signalflow.strategy.broker.executor.spot import VirtualSpotExecutor

if TYPE_CHECKING:
    from signalflow.data.market import MarketData

__all__ = ["BacktestBroker"]


class BacktestBroker:
    """Fills orders against the run's bars through an executor.

    With `fill_at="close"` an order fills at the close of the bar it was placed
    on; with `"next_open"` it waits for the open of its pair's next bar (exits
    before entries). Orders with an explicit `price` (intrabar stop / take-profit
    levels) fill at once. Positions change only here, by applying fills; an exit
    for a position that is no longer open is rejected and counted, never paid.

    At each bar's mark the runner calls `settle(bar)`: the executor's borrow cost is charged
    and its liquidations are filled (see `VirtualSpotExecutor`, `VirtualMarginExecutor`).
    A rule's exit that leaves a spot account owing cash, or a margin account with negative
    equity (a gap through the requirement at the open, a large slippage), is treated like a
    liquidation that does: the rest is closed at the mark and the debt written off.
    """

    def __init__(self, executor: Executor | None = None) -> None:
        self.executor = executor if executor is not None else VirtualSpotExecutor()
        self._market: MarketData | None = None
        self._state: StrategyState | None = None
        self._fill_at = FillAt.CLOSE
        self._pending: list[Order] = []
        self._next_id = 0
        self.fills: list[Fill] = []
        #: Positions closed by the account (liquidations) in the current run.
        self.liquidations = 0

    # -- run lifecycle -------------------------------------------------------------------
    def start(self, *, market: "MarketData", state: StrategyState, fill_at: FillAt) -> None:
        """Forget any previous run and bind to a new one."""
        self._market = market
        self._state = state
        self._fill_at = fill_at
        self._pending = []
        self._next_id = 0
        self.fills = []
        self.liquidations = 0
        self.executor.start(market)

    @property
    def pending_orders(self) -> list[Order]:
        """Orders waiting for their fill (`fill_at="next_open"`)."""
        return list(self._pending)

    @property
    def has_pending(self) -> bool:
        """True if some order waits for its fill at a next open."""
        return bool(self._pending)

    def serves(self, state: StrategyState) -> bool:
        """True if this broker is bound to the run whose state is `state` (its latest `start`)."""
        return self._state is state

    # -- orders ----------------------------------------------------------------------------
    def submit(self, order: Order, bar: int) -> Fill | None:
        """Fill `order` now (at this bar's close or its level) or queue it for the next open."""
        state = self._state
        if order.pair not in self._market.pair_index:
            self._reject(order, bar, f"pair {order.pair!r} is not in the market data; check the pair's spelling")
            return None
        if self._fill_at is FillAt.NEXT_OPEN and order.price is None:
            if order.position_id is None:
                state.portfolio.pending_entries += 1
            else:
                if not state.portfolio.is_closable(order.position_id):
                    self._reject(order, bar, "position is not open or is already being closed")
                    return None
                state.portfolio.pending_close.add(order.position_id)
            self._pending.append(order)
            return None
        j = self._market.pair_index.get(order.pair)
        if not self._market.has_bar[bar, j]:
            self._reject(order, bar, f"pair {order.pair!r} has no bar at this timestamp")
            return None
        price = order.price if order.price is not None else float(self._market.close[bar, j])
        return self._execute(order, price, bar)

    def fill_pending(self, bar: int) -> list[Fill]:
        """Fill queued orders at the open of `bar` for pairs that have a bar (exits first)."""
        if not self._pending:
            return []
        market, portfolio = self._market, self._state.portfolio
        due: list[Order] = []
        waiting: list[Order] = []
        for order in self._pending:
            (due if market.has_bar[bar, market.pair_index[order.pair]] else waiting).append(order)
        self._pending = waiting
        due.sort(key=lambda o: o.position_id is None)  # exits first, stable otherwise
        fills: list[Fill] = []
        for order in due:
            if order.position_id is None:
                portfolio.pending_entries -= 1
            else:
                portfolio.pending_close.discard(order.position_id)
            fill = self._execute(order, float(market.open[bar, market.pair_index[order.pair]]), bar)
            if fill is not None:
                fills.append(fill)
        return fills

    # -- the account, at each bar's mark ---------------------------------------------------------
    def settle(self, bar: int) -> bool:
        """Charge the borrow accrued since the previous bar and fill the executor's liquidations at
        bar `bar` (its positions are marked); if cash is left below zero, close what is still open
        at its mark and write the rest off as a shortfall. True if the portfolio changed."""
        state, market, ex = self._state, self._market, self.executor
        portfolio = state.portfolio
        if not ex.is_margin and not portfolio.short_count:  # a spot account's longs cannot go below zero
            return False
        changed = False
        if ex.is_margin and bar > 0:
            years = (int(market.timestamps[bar]) - int(market.timestamps[bar - 1])) / 1e6 / SECONDS_PER_YEAR
            cost = ex.borrow_cost(portfolio, market.mark_row(bar), market.pair_index, years, bar)
            if cost > 0.0:
                portfolio.charge_borrow(cost)
                changed = True
        orders = ex.liquidations(portfolio, market, bar)
        if not orders:
            return changed
        for order in orders:
            self._liquidate(order.position_id, order.price, bar)
        if portfolio.cash < 0.0:
            self._cover_debt(bar)
        return True

    def _cover_debt(self, bar: int) -> None:
        """Cash is below zero after a loss beyond the collateral: close what is still open at its
        mark (spot: sell the rest to pay the debt) and write off what is still missing."""
        market, portfolio = self._market, self._state.portfolio
        for position in portfolio.open_positions():
            self._liquidate(position.id, float(market.mark[bar, market.pair_index[position.pair]]), bar)
        portfolio.write_off_shortfall(bar)

    def _liquidate(self, position_id: str, price: float, bar: int) -> None:
        """Close `position_id` by force at `price` (no slippage; the fee model's fee)."""
        portfolio = self._state.portfolio
        position = portfolio.get_open(position_id)
        if position is None:
            return
        portfolio.pending_close.discard(position_id)
        side = OrderSide.SELL if position.position_type is PositionType.LONG else OrderSide.BUY
        quote = Quote(price, position.qty, self.executor.fee(position.qty, price, position.pair))
        self._apply(position.pair, side, position.position_type, quote, bar, position_id, False, ExitReason.LIQUIDATION.value,
                    market_price=price)
        self.liquidations += 1

    # -- execution ----------------------------------------------------------------------------
    def _execute(self, order: Order, market_price: float, bar: int) -> Fill | None:
        """Price, size and charge `order` through the executor, then apply the fill to the portfolio."""
        state, ex, market = self._state, self.executor, self._market
        portfolio = state.portfolio
        column = market.pair_index[order.pair]
        if order.position_id is None:
            if portfolio.halted:
                self._reject(
                    order, bar,
                    f"the account was liquidated with a shortfall at bar {portfolio.halted_at}; it takes no new entries",
                )
                return None
            quote = ex.quote_entry(
                pair=order.pair, column=column, side=order.side, notional=order.notional, price=market_price, bar=bar,
                budget=ex.entry_budget(portfolio),
            )
            if isinstance(quote, str):
                self._reject(order, bar, quote)
                return None
            if quote.reduced:
                self._reject(order, bar, quote.reduced, reduced=True)
            self._next_id += 1
            position_id = f"pos_{self._next_id:06d}"
        else:
            position = portfolio.get_open(order.position_id)
            if position is None:
                self._reject(order, bar, f"position {order.position_id!r} is not open (already closed)")
                return None
            quote = ex.quote_exit(pair=order.pair, column=column, side=order.side, qty=position.qty, price=market_price, bar=bar)
            if isinstance(quote, str):
                self._reject(order, bar, quote)
                return None
            position_id = position.id
        fill = self._apply(
            order.pair, order.side, order.position_type, quote, bar, position_id, order.position_id is None, order.reason,
            market_price=market_price, meta=order.meta,
        )
        # An exit can realise a loss beyond the collateral (a gap at the open, a large slippage):
        # a spot account cannot owe cash, a margin account cannot have negative equity; as after
        # a liquidation, close the rest at the mark and write the debt off (`settle` may not run:
        # with nothing left open there is nothing to mark).
        if not fill.is_entry and (portfolio.equity < 0.0 if ex.is_margin else portfolio.cash < 0.0):
            self._cover_debt(bar)
        return fill

    def _apply(
        self, pair: str, side: OrderSide, position_type: PositionType, quote: Quote, bar: int, position_id: str,
        is_entry: bool, reason: str, *, market_price: float, meta=None,
    ) -> Fill:
        fill = Fill(
            pair=pair,
            side=side,
            position_type=position_type,
            qty=quote.qty,
            price=quote.price,
            fee=quote.fee,
            time=self._market.datetime_at(bar),
            bar=bar,
            position_id=position_id,
            is_entry=is_entry,
            reason=reason,
            market_price=market_price,
            margin=quote.margin,
        )
        self._state.portfolio.apply(fill, meta=meta)
        self._state.log.fill()
        self.fills.append(fill)
        return fill

    def _reject(self, order: Order, bar: int, reason: str, *, reduced: bool = False) -> None:
        self._state.log.reject(
            RejectedOrder(
                bar=bar,
                timestamp=self._market.datetime_at(bar),
                pair=order.pair,
                position_id=order.position_id,
                is_entry=order.position_id is None,
                reason=reason,
                reduced=reduced,
            )
        )
