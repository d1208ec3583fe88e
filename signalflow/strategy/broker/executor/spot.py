"""`VirtualSpotExecutor`: fill prices, fees and cash-limited sizing of a spot account."""

from __future__ import annotations

from typing import TYPE_CHECKING

from signalflow.strategy.broker.executor.base import Executor, LiquidationOrder

if TYPE_CHECKING:
    from signalflow.core.portfolio import Portfolio
    from signalflow.data.market import MarketData

__all__ = ["VirtualSpotExecutor"]


class VirtualSpotExecutor(Executor):
    """Simulated spot execution: no leverage; fees, slippage and a volume cap as `Executor`.

    - Fill price: `price * (1 + slippage_pct)` for buys, `price * (1 - slippage_pct)` for
      sells (or the `slippage` model's price).
    - Fee: `fee_rate * qty * fill_price`, paid in quote currency on every fill (or the `fee`
      model's fee).
    - Entries (long or short) cost `notional + fee` in cash (a short's notional is
      locked as collateral). If cash is short, the notional is reduced to fit; if
      what is left is below `min_notional`, the order is rejected.
    - Equity never goes below zero through a short: a short is liquidated
      (`exit_reason="liquidation"`) on the first bar its loss reaches its collateral, i.e.
      the pair's mark (its close) reaches ``2 * entry_price``, at that mark; with
      `intrabar_liquidation=True`, on the first bar whose high reaches that level, at the
      level (at the open if the bar opens beyond it). If paying for it leaves cash below
      zero, every other position is sold at its mark too, and what is still missing is
      written off as the run's `liquidation_shortfall`; the account then takes no new entries.
    """

    def liquidations(self, portfolio: "Portfolio", market: "MarketData", bar: int) -> list[LiquidationOrder]:
        """The shorts whose loss reached their collateral at bar `bar` (see the class docstring)."""
        if not portfolio.short_count:
            return []
        out: list[LiquidationOrder] = []
        for position in portfolio.open_positions():
            if position.side > 0:
                continue
            level = 2.0 * position.entry_price
            j = market.pair_index[position.pair]
            if self.intrabar_liquidation and market.has_bar[bar, j]:
                opened = float(market.open[bar, j])
                if opened >= level:
                    out.append(LiquidationOrder(position.id, opened))
                elif float(market.high[bar, j]) >= level:
                    out.append(LiquidationOrder(position.id, level))
            else:
                mark = float(market.mark[bar, j])
                if mark >= level:
                    out.append(LiquidationOrder(position.id, mark))
        return out

    def __repr__(self) -> str:
        return (
            f"VirtualSpotExecutor(fee={self.fee_model!r}, slippage={self.slippage_model!r}, "
            f"max_volume_participation={self.max_volume_participation!r}, min_notional={self.min_notional!r}, "
            f"intrabar_liquidation={self.intrabar_liquidation!r})"
        )
