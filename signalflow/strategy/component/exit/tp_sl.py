"""`TakeProfitStopLossExit`: close positions at fixed percentage gains or losses."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from signalflow.core.enums import ExitReason, PositionType
from signalflow.core.errors import ConfigError
from signalflow.core.order import Order
from signalflow.core.state import StrategyState
from signalflow.strategy.component.base import ExitRule, NoOrdersBefore
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

    #: Its NoOrdersBefore(bar) is the first bar at which a close can cross a level (see ExitRule).
    promises_quiet_bars = True

    def __init__(self, take_profit_pct: float = 0.05, stop_loss_pct: float = 0.03, *, intrabar: bool = False) -> None:
        self.take_profit_pct = _check_pct("take_profit_pct", take_profit_pct)
        self.stop_loss_pct = _check_pct("stop_loss_pct", stop_loss_pct)
        self.intrabar = bool(intrabar)
        self.fills_intrabar = self.intrabar
        self._market: MarketData | None = None
        self._bar_prices: list | None = None  # the market's per-bar price mappings, in a run
        self._levels: dict[str, tuple[float, float]] = {}
        self._portfolio: object | None = None  # the portfolio, and its version, the levels describe
        self._version = -1
        # pair -> first bar >= `_quiet_from` whose close crosses one of its levels (for
        # `_portfolio` only; a pair of `_levels` missing here needs a scan):
        self._next_hit: dict[str, int] = {}
        # Bars in [_quiet_from, _quiet_until) cross no level (min of `_next_hit`; -1: look again)
        self._quiet_from = 0
        self._quiet_until = -1

    def on_start(self, market: "MarketData") -> None:
        self._bind(market)
        self._levels, self._portfolio, self._version = {}, None, -1
        self._next_hit = {}
        self._quiet_from, self._quiet_until = 0, -1

    def __getstate__(self) -> dict[str, Any]:
        # The per-bar price mappings are not picklable; they are rebound from the market
        # (which pickles without them).
        state = self.__dict__.copy()
        state["_bar_prices"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self._market is not None:
            self._bind(self._market)

    def _bind(self, market: "MarketData") -> None:
        """Hold the run's market and its per-bar price maps."""
        self._market = market
        self._bar_prices = market._prices

    def check_exits(self, context: ModelContext, state: StrategyState) -> list[Order]:
        portfolio = state.portfolio
        bar = context.bar_index
        prices = context.prices
        if (  # the usual bar inside a run: levels up to date, before the next crossing (see below)
            self._quiet_from <= bar < self._quiet_until
            and portfolio.version == self._version
            and portfolio is self._portfolio
            and self._bar_prices[bar] is prices
        ):
            return NoOrdersBefore(self._quiet_until)
        orders: list[Order] = []
        if not portfolio._open:
            return orders
        if self.intrabar:
            for pos in portfolio.closable_positions():
                if pos.pair in prices:
                    order = self._intrabar_exit(pos, bar, context)
                    if order is not None:
                        orders.append(order)
            return orders
        # Per pair, the nearest take-profit and stop levels over its open positions (recomputed
        # only when positions open or close): most bars hit no level, and then no position needs
        # a look. When the context's prices are the market's own closes at `bar` (always, inside
        # the runner), the bar of each pair's next crossing is found from its close column
        # (`_next_hit`) and bars before the first one are not looked at. The scan results belong
        # to one portfolio and hold from the bar they started at: another portfolio, or an
        # earlier bar, means scanning again.
        if portfolio is not self._portfolio or portfolio.version != self._version:
            self._set_levels(portfolio)
        bar_prices = self._bar_prices
        in_run = bar_prices is not None and 0 <= bar < len(bar_prices) and bar_prices[bar] is prices
        if in_run:
            next_hit = self._next_hit
            if bar < self._quiet_from:
                next_hit.clear()
            if len(next_hit) != len(self._levels):
                for pair, levels in self._levels.items():
                    if pair not in next_hit:
                        next_hit[pair] = self._scan(pair, levels, bar)
                self._quiet_from = bar
            first = self._quiet_until = min(next_hit.values())
            if bar < first:  # no close crosses a level before bar `first` (if nothing opens or closes)
                return NoOrdersBefore(first)
        hit: set[str] | None = None
        for pair, (lo, hi) in self._levels.items():
            price = prices.get(pair)
            if price is not None and (price >= hi or price <= lo):
                if hit is None:
                    hit = set()
                hit.add(pair)
        if in_run:  # the pairs due now are scanned again from the next call on
            for pair in [p for p, when in next_hit.items() if when <= bar]:
                del next_hit[pair]
            self._quiet_until = -1
        if hit is None:
            return orders
        up, down = 1.0 + self.take_profit_pct, 1.0 - self.stop_loss_pct
        short_up, short_down = 1.0 - self.take_profit_pct, 1.0 + self.stop_loss_pct
        for pos in portfolio.closable_positions():
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

    def _set_levels(self, portfolio) -> None:
        """Recompute the per-pair levels for `portfolio`; pairs whose levels changed (all, for
        another portfolio) lose their scan."""
        old = self._levels
        self._levels = levels = self._pair_levels(portfolio._open.values())
        next_hit = self._next_hit
        if portfolio is not self._portfolio:
            next_hit.clear()
        else:
            for pair in [p for p in next_hit if levels.get(p) != old.get(p)]:
                del next_hit[pair]
        self._portfolio, self._version = portfolio, portfolio.version
        self._quiet_until = -1

    def _scan(self, pair: str, levels: tuple[float, float], start: int) -> int:
        """First bar >= `start` whose close of `pair` is at or beyond a level (n_bars if none)."""
        column = self._market.close_column(pair)  # NaN where the pair has no bar: never a hit
        n = len(self._bar_prices)
        if column is None:  # a position in a pair this market does not have: no price, no crossing
            return n
        lo, hi = levels
        size = 64  # most crossings come within a few dozen bars; each further window is 4x longer
        while start < n:
            seg = column[start : start + size]
            crossed = seg >= hi
            crossed |= seg <= lo
            k = int(crossed.argmax())
            if crossed[k]:
                return start + k
            start += size
            size *= 4
        return n

    def _pair_levels(self, positions) -> dict[str, tuple[float, float]]:
        """pair -> (lo, hi): a close at or below `lo` or at or above `hi` reaches some position's
        take-profit or stop. `lo` is the highest of the long stops and short take-profit levels,
        `hi` the lowest of the long take-profit levels and short stops."""
        up, down = 1.0 + self.take_profit_pct, 1.0 - self.stop_loss_pct
        short_up, short_down = 1.0 - self.take_profit_pct, 1.0 + self.stop_loss_pct
        levels: dict[str, tuple[float, float]] = {}
        for pos in positions:
            e = pos.entry_price
            if pos.position_type is _LONG:
                lo, hi = e * down, e * up
            else:
                lo, hi = e * short_up, e * short_down
            known = levels.get(pos.pair)
            if known is not None:
                if known[0] > lo:
                    lo = known[0]
                if known[1] < hi:
                    hi = known[1]
            levels[pos.pair] = (lo, hi)
        return levels

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
