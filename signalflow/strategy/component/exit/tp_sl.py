"""`TakeProfitStopLossExit`: close positions at fixed percentage gains or losses."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from signalflow.core.enums import ExitReason, PositionType
from signalflow.core.errors import ConfigError
from signalflow.core.order import Order
from signalflow.core.state import StrategyState
from signalflow.strategy.component.base import ExitRule
from signalflow.strategy.component.orders import exit_order
from signalflow.strategy.model.context import ModelContext

if TYPE_CHECKING:
    from signalflow.strategy.runner.market_data import MarketData

__all__ = ["TakeProfitStopLossExit"]

_LONG = PositionType.LONG
_TAKE_PROFIT = ExitReason.TAKE_PROFIT.value
_STOP_LOSS = ExitReason.STOP_LOSS.value


def _check_pct(name: str, value: float) -> float:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"`{name}` must be a positive fraction (0.05 == 5%), was {value!r}")
    return float(value)


class TakeProfitStopLossExit(ExitRule):
    """Close a position once its price return reaches `take_profit_pct` or `-stop_loss_pct`.

    Returns are measured from the entry price in the position's direction
    (a short gains when price falls): a long takes profit at
    ``price >= entry * (1 + take_profit_pct)`` and stops at
    ``price <= entry * (1 - stop_loss_pct)``; a short mirrors it.

    - `intrabar=False` (default, as the reference): the bar's close is checked and
      the exit is an ordinary order, filled per the runner's `fill_at`.
    - `intrabar=True`: the bar's high/low are checked and the exit fills on this
      bar at the level (at the open instead, if the bar opens beyond the level).
      The runner then runs this rule before the other exit rules (a level inside
      the bar is reached before a model decides at the close).
      When both levels lie inside one bar, the stop-loss is taken (the
      pessimistic choice, since the path inside a bar is unknown).

    Only positions that are still closable (not closed by an earlier exit rule
    on the same bar) and whose pair has a bar now are checked.
    """

    def __init__(self, take_profit_pct: float = 0.05, stop_loss_pct: float = 0.03, *, intrabar: bool = False) -> None:
        self.take_profit_pct = _check_pct("take_profit_pct", take_profit_pct)
        self.stop_loss_pct = _check_pct("stop_loss_pct", stop_loss_pct)
        self.intrabar = bool(intrabar)
        self.fills_intrabar = self.intrabar
        self._market: MarketData | None = None
        self._levels: dict[str, tuple[float, float, float, float]] = {}
        self._levels_key: tuple[int, int] | None = None

    def on_start(self, market: "MarketData") -> None:
        self._market = market
        self._levels, self._levels_key = {}, None

    def check_exits(self, context: ModelContext, state: StrategyState) -> list[Order]:
        portfolio = state.portfolio
        if not portfolio.open_count:
            return []
        prices = context.prices
        bar = context.bar_index
        orders: list[Order] = []
        if self.intrabar:
            for pos in portfolio.closable_positions():
                if pos.pair in prices:
                    order = self._intrabar_exit(pos, bar, context)
                    if order is not None:
                        orders.append(order)
            return orders
        # Per pair, the nearest take-profit and stop levels over its open positions
        # (recomputed only when positions open or close): most bars hit no level,
        # and then no position needs a look.
        key = (id(portfolio), portfolio.version)
        if self._levels_key != key:
            self._levels = self._pair_levels(portfolio.open_positions())
            self._levels_key = key
        hit: set[str] | None = None
        for pair, (long_tp, long_sl, short_tp, short_sl) in self._levels.items():
            price = prices.get(pair)
            if price is not None and (price >= long_tp or price <= long_sl or price <= short_tp or price >= short_sl):
                if hit is None:
                    hit = set()
                hit.add(pair)
        if hit is None:
            return orders
        positions = portfolio.closable_positions()
        up, down = 1.0 + self.take_profit_pct, 1.0 - self.stop_loss_pct
        short_up, short_down = 1.0 - self.take_profit_pct, 1.0 + self.stop_loss_pct
        for pos in positions:
            if pos.pair not in hit:
                continue
            price = prices[pos.pair]
            e = pos.entry_price
            if pos.position_type is _LONG:
                hit_tp, hit_sl = price >= e * up, price <= e * down
            else:
                hit_tp, hit_sl = price <= e * short_up, price >= e * short_down
            if hit_tp:
                orders.append(exit_order(pos, bar=bar, time=context.timestamp, reason=_TAKE_PROFIT))
            elif hit_sl:
                orders.append(exit_order(pos, bar=bar, time=context.timestamp, reason=_STOP_LOSS))
        return orders

    def _pair_levels(self, positions) -> dict[str, tuple[float, float, float, float]]:
        """pair -> (lowest long TP level, highest long stop, highest short TP level, lowest short stop)."""
        up, down = 1.0 + self.take_profit_pct, 1.0 - self.stop_loss_pct
        short_up, short_down = 1.0 - self.take_profit_pct, 1.0 + self.stop_loss_pct
        inf = math.inf
        levels: dict[str, list[float]] = {}
        for pos in positions:
            lv = levels.get(pos.pair)
            if lv is None:
                lv = levels[pos.pair] = [inf, -inf, -inf, inf]
            e = pos.entry_price
            if pos.position_type is _LONG:
                lv[0] = min(lv[0], e * up)
                lv[1] = max(lv[1], e * down)
            else:
                lv[2] = max(lv[2], e * short_up)
                lv[3] = min(lv[3], e * short_down)
        return {pair: tuple(lv) for pair, lv in levels.items()}

    def _intrabar_exit(self, pos, bar: int, context: ModelContext) -> Order | None:
        market = self._market
        if market is None:
            raise ConfigError("TakeProfitStopLossExit(intrabar=True) needs the run's market; run it inside BacktestRunner")
        j = market.pair_index[pos.pair]
        o, h, l = float(market.open[bar, j]), float(market.high[bar, j]), float(market.low[bar, j])
        e = pos.entry_price
        if pos.position_type is PositionType.LONG:
            stop, take = e * (1.0 - self.stop_loss_pct), e * (1.0 + self.take_profit_pct)
            if l <= stop:
                return exit_order(pos, bar=bar, time=context.timestamp, reason=ExitReason.STOP_LOSS.value, price=min(stop, o))
            if h >= take:
                return exit_order(pos, bar=bar, time=context.timestamp, reason=ExitReason.TAKE_PROFIT.value, price=max(take, o))
        else:
            stop, take = e * (1.0 + self.stop_loss_pct), e * (1.0 - self.take_profit_pct)
            if h >= stop:
                return exit_order(pos, bar=bar, time=context.timestamp, reason=ExitReason.STOP_LOSS.value, price=max(stop, o))
            if l <= take:
                return exit_order(pos, bar=bar, time=context.timestamp, reason=ExitReason.TAKE_PROFIT.value, price=min(take, o))
        return None
