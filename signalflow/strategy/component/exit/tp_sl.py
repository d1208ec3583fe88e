"""`TakeProfitStopLossExit`: close positions at fixed percentage gains or losses."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from signalflow.core.enums import ExitReason, PositionType
from signalflow.core.errors import ConfigError
from signalflow.core.order import Order
from signalflow.core.state import StrategyState
from signalflow.core.values import is_finite_real
from signalflow.strategy.component.base import ExitRule
from signalflow.strategy.component.orders import exit_order

if TYPE_CHECKING:
    from signalflow.core.position import Position
    from signalflow.data.market import MarketData
    from signalflow.strategy.model.context import ModelContext

__all__ = ["TakeProfitStopLossExit"]

_LONG = PositionType.LONG
_TAKE_PROFIT = ExitReason.TAKE_PROFIT.value
_STOP_LOSS = ExitReason.STOP_LOSS.value


def _check_pct(name: str, value: float | None) -> float | None:
    """A level as a fraction of the entry price in (0, 1), or None (that level is not used).

    A stop of 100% or more can never trigger for a long (its price cannot fall below 0) and a
    take-profit of 100% or more never for a short: such levels are refused, not kept silently.
    """
    if value is None:
        return None
    if not is_finite_real(value) or not 0.0 < value < 1.0:
        raise ConfigError(
            f"`{name}` must be a fraction in (0, 1) (0.05 == 5%), was {value!r}; a level of 100% or more "
            "can never be reached by one side, use e.g. 0.05, or None to leave it out"
        )
    return float(value)


class TakeProfitStopLossExit(ExitRule):
    """Close a position once its price return reaches `take_profit_pct` or `-stop_loss_pct`.

    Both are fractions of the entry price in (0, 1) (0.05 == 5%); None leaves that level
    out (at least one must be set).

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

    `next_check_bar` finds, from the market's close (or high/low) columns, the first
    later bar at which any open position's level is crossed, so the runner skips the
    bars before it. Scans are kept per (pair, levels) and reused while they hold.
    """

    def __init__(
        self, take_profit_pct: float | None = 0.05, stop_loss_pct: float | None = 0.03, *, intrabar: bool = False
    ) -> None:
        self.take_profit_pct = _check_pct("take_profit_pct", take_profit_pct)
        self.stop_loss_pct = _check_pct("stop_loss_pct", stop_loss_pct)
        if self.take_profit_pct is None and self.stop_loss_pct is None:
            raise ConfigError(
                "TakeProfitStopLossExit needs a level: set `take_profit_pct`, `stop_loss_pct` or both "
                "(fractions in (0, 1)), or leave the rule out"
            )
        # an unused level is never reached: +-inf in the price arithmetic below
        self._tp = math.inf if self.take_profit_pct is None else self.take_profit_pct
        self._sl = math.inf if self.stop_loss_pct is None else self.stop_loss_pct
        self.intrabar = bool(intrabar)
        self.fills_intrabar = self.intrabar
        self._market: MarketData | None = None
        # (pair, lo, hi) -> (from bar, first bar >= it whose price reaches lo or hi)
        self._crossings: dict[tuple[str, float, float], tuple[int, int]] = {}

    def on_start(self, market: MarketData) -> None:
        if market is not self._market:
            self._crossings = {}
        self._market = market

    def check_exits(self, context: ModelContext, state: StrategyState) -> list[Order]:
        orders: list[Order] = []
        prices = context.prices
        bar, time = context.bar_index, context.timestamp
        for pos in state.portfolio.closable_positions():
            if pos.pair not in prices:
                continue
            if self.intrabar:
                order = self._intrabar_exit(pos, bar, context)
                if order is not None:
                    orders.append(order)
                continue
            price, e = prices[pos.pair], pos.entry_price
            if pos.position_type is _LONG:
                hit_tp, hit_sl = price >= e * (1.0 + self._tp), price <= e * (1.0 - self._sl)
            else:
                hit_tp, hit_sl = price <= e * (1.0 - self._tp), price >= e * (1.0 + self._sl)
            if hit_tp:
                orders.append(exit_order(pos, bar=bar, time=time, reason=_TAKE_PROFIT))
            elif hit_sl:
                orders.append(exit_order(pos, bar=bar, time=time, reason=_STOP_LOSS))
        return orders

    def next_check_bar(self, context: ModelContext, state: StrategyState) -> int | None:
        """The first bar after `context`'s at which a close (intrabar: a high or low) of the
        run's market reaches a level of an open, closable position; the market's bar count if
        none does. None when the context's prices are not the market's (a hand-made context,
        or a rule shared with a run over another market): then nothing is promised."""
        market = self._market
        bar = context.bar_index
        if market is None or not 0 <= bar < market.n_bars:
            return None
        first = market.n_bars
        for pair, (lo, hi) in self._pair_levels(state.portfolio.closable_positions()).items():
            j = market.pair_index.get(pair)
            if j is None:  # a pair this market does not have: no price, no crossing
                continue
            price = context.prices.get(pair)
            if price is not None and price != market.close[bar, j]:
                return None
            first = min(first, self._first_crossing(pair, lo, hi, bar + 1))
        return first

    def _first_crossing(self, pair: str, lo: float, hi: float, start: int) -> int:
        """First bar >= `start` whose price of `pair` reaches `lo` or `hi` (n_bars if none)."""
        key = (pair, lo, hi)
        known = self._crossings.get(key)
        if known is not None and known[0] <= start <= known[1]:
            return known[1]  # no crossing in [known[0], known[1]), one at known[1]
        market = self._market
        if self.intrabar:
            low, high = market.column("low", pair), market.column("high", pair)
        else:
            low = high = market.close_column(pair)  # NaN where the pair has no bar: never a hit
        n = market.n_bars
        at, size = start, 64  # most crossings come within a few dozen bars; each further window is 4x longer
        hit = n
        while at < n:
            crossed = np.flatnonzero((low[at : at + size] <= lo) | (high[at : at + size] >= hi))
            if crossed.size:
                hit = at + int(crossed[0])
                break
            at += size
            size *= 4
        self._crossings[key] = (start, hit)
        return hit

    def _pair_levels(self, positions: list[Position]) -> dict[str, tuple[float, float]]:
        """pair -> (lo, hi): a price at or below `lo` or at or above `hi` reaches some position's
        take-profit or stop. `lo` is the highest of the long stops and short take-profit levels,
        `hi` the lowest of the long take-profit levels and short stops."""
        up, down = 1.0 + self._tp, 1.0 - self._sl
        short_up, short_down = 1.0 - self._tp, 1.0 + self._sl
        levels: dict[str, tuple[float, float]] = {}
        for pos in positions:
            e = pos.entry_price
            if pos.position_type is _LONG:
                lo, hi = e * down, e * up
            else:
                lo, hi = e * short_up, e * short_down
            known = levels.get(pos.pair)
            if known is not None:
                lo, hi = max(lo, known[0]), min(hi, known[1])
            levels[pos.pair] = (lo, hi)
        return levels

    def _intrabar_exit(self, pos: Position, bar: int, context: ModelContext) -> Order | None:
        market = self._market
        if market is None:
            raise ConfigError("TakeProfitStopLossExit(intrabar=True) needs the run's market; run it inside BacktestRunner")
        j = market.pair_index[pos.pair]
        o, h, l = float(market.open[bar, j]), float(market.high[bar, j]), float(market.low[bar, j])
        e = pos.entry_price
        time = context.timestamp
        if pos.position_type is PositionType.LONG:
            stop, take = e * (1.0 - self._sl), e * (1.0 + self._tp)
            if l <= stop:
                return exit_order(pos, bar=bar, time=time, reason=_STOP_LOSS, price=min(stop, o))
            if h >= take:
                return exit_order(pos, bar=bar, time=time, reason=_TAKE_PROFIT, price=max(take, o))
        else:
            stop, take = e * (1.0 + self._sl), e * (1.0 - self._tp)
            if h >= stop:
                return exit_order(pos, bar=bar, time=time, reason=_STOP_LOSS, price=max(stop, o))
            if l <= take:
                return exit_order(pos, bar=bar, time=time, reason=_TAKE_PROFIT, price=min(take, o))
        return None
