"""`BacktestBroker`: owns the pending orders of a run and applies fills to the portfolio."""

from __future__ import annotations

from typing import TYPE_CHECKING

from signalflow.core.enums import FillAt
from signalflow.core.order import Fill, Order
from signalflow.core.state import RejectedOrder, StrategyState
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
    """

    def __init__(self, executor: VirtualSpotExecutor | None = None) -> None:
        self.executor = executor if executor is not None else VirtualSpotExecutor()
        self._market: MarketData | None = None
        self._state: StrategyState | None = None
        self._fill_at = FillAt.CLOSE
        self._pending: list[Order] = []
        self._next_id = 0
        self.fills: list[Fill] = []

    # -- run lifecycle -------------------------------------------------------------------
    def start(self, *, market: "MarketData", state: StrategyState, fill_at: FillAt) -> None:
        """Forget any previous run and bind to a new one."""
        self._market = market
        self._state = state
        self._fill_at = fill_at
        self._pending = []
        self._next_id = 0
        self.fills = []

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
        if j is None or not self._market.has_bar[bar, j]:
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

    # -- execution ----------------------------------------------------------------------------
    def _execute(self, order: Order, market_price: float, bar: int) -> Fill | None:
        """Price, size and charge `order` through the executor, then apply the fill to the portfolio."""
        state, ex = self._state, self.executor
        portfolio = state.portfolio
        price = ex.fill_price(order.side, market_price)
        if order.position_id is None:
            sized = ex.size_entry(order.notional, price, portfolio.cash)
            if sized is None:
                self._reject(order, bar, f"not enough cash: {portfolio.cash:.6f} free for {order.notional:.6f} notional")
                return None
            qty, fee, reduced = sized
            if reduced:
                self._reject(order, bar, f"reduced to the free cash {portfolio.cash:.6f}", reduced=True)
            self._next_id += 1
            position_id = f"pos_{self._next_id:06d}"
        else:
            position = portfolio.get_open(order.position_id)
            if position is None:
                self._reject(order, bar, f"position {order.position_id!r} is not open (already closed)")
                return None
            qty = position.qty
            fee = ex.fee(qty, price)
            position_id = position.id
        fill = Fill(
            pair=order.pair,
            side=order.side,
            position_type=order.position_type,
            qty=qty,
            price=price,
            fee=fee,
            time=self._market.datetime_at(bar),
            bar=bar,
            position_id=position_id,
            is_entry=order.position_id is None,
            reason=order.reason,
        )
        portfolio.apply(fill, meta=order.meta)
        state.log.fill()
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
