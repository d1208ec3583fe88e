"""`VirtualMarginExecutor`: a margin account: leverage, borrow costs, maintenance margin and
liquidation."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from signalflow.core.errors import ConfigError
from signalflow.core.values import is_finite_real
from signalflow.strategy.broker.executor.base import Executor, LiquidationOrder
from signalflow.strategy.broker.fees import FeeModel
from signalflow.strategy.broker.slippage import SlippageModel

if TYPE_CHECKING:
    from signalflow.core.portfolio import Portfolio
    from signalflow.data.market import MarketData

__all__ = ["VirtualMarginExecutor", "SECONDS_PER_YEAR"]

#: A year for `borrow_rate`: 365 days (markets that trade every day; the bars' real spacing counts).
SECONDS_PER_YEAR = 365.0 * 24 * 3600


class VirtualMarginExecutor(Executor):
    """Simulated margin account (cross margin, quote currency), long and short.

    - **Initial margin**: an entry of notional N locks ``N / leverage`` of cash as its margin
      (plus its fee); entries are sized so that margin + fee fit in the free margin
      ``min(cash, cash + unrealised PnL)`` (losses count, gains do not). A position is worth
      ``margin + side * (price - entry) * qty`` and releases that, less the exit fee, when
      closed. Fees and slippage are as `Executor`'s.
    - **Borrow**: at `borrow_rate` per year (365 days; 0.05 == 5%/year) on the notional of
      every short (``qty * mark``) and on the cash borrowed by every leveraged long
      (``qty * entry - margin``), accrued at each bar's mark for the time since the previous
      bar (the bars' real spacing), on positions opened before that bar; paid from cash,
      shown as `borrow_paid` in the metrics.
    - **Maintenance and liquidation**: at each bar's mark, after borrow, if equity is at or
      below ``maintenance_margin * gross exposure`` (sum of qty * mark), every open position
      is liquidated at its mark (`exit_reason="liquidation"`). With
      `intrabar_liquidation=True` the check follows each pair from its open towards its
      adverse extreme on one common path (the low where the pair's book gains with its price,
      as a long does; the high otherwise, as for a short or a hedged long + short), and liquidates at
      the prices where the requirement is first met (at the open if the bar opens beyond it).
      If the account's cash is below zero after that (a gap through the requirement), the
      loss beyond the equity is written off as `liquidation_shortfall` and the account takes
      no new entries for the rest of the run.

    `maintenance_margin` defaults to half the initial margin rate, ``0.5 / leverage``; it
    must be below ``1 / leverage`` (else a new position would be liquidated at once).
    """

    is_margin = True

    def __init__(
        self,
        fee_rate: float | None = None,
        slippage_pct: float | None = None,
        *,
        leverage: float = 1.0,
        maintenance_margin: float | None = None,
        borrow_rate: float = 0.0,
        min_notional: float = 1e-8,
        fee: FeeModel | None = None,
        slippage: SlippageModel | None = None,
        max_volume_participation: float | None = None,
        intrabar_liquidation: bool = False,
    ) -> None:
        super().__init__(
            fee_rate, slippage_pct, fee=fee, slippage=slippage, max_volume_participation=max_volume_participation,
            min_notional=min_notional, intrabar_liquidation=intrabar_liquidation,
        )
        if not is_finite_real(leverage) or not 1.0 <= leverage <= 100.0:
            raise ConfigError(f"`leverage` must be a number in [1, 100], was {leverage!r}; e.g. 2.0 (2x: margin is half the notional)")
        self.leverage = float(leverage)
        self.margin_rate = 1.0 / self.leverage
        if maintenance_margin is None:
            maintenance_margin = 0.5 / self.leverage
        if not is_finite_real(maintenance_margin) or not 0.0 <= maintenance_margin < self.margin_rate:
            raise ConfigError(
                f"`maintenance_margin` must be in [0, 1 / leverage) = [0, {self.margin_rate:g}), was {maintenance_margin!r}; "
                f"it is the share of the gross exposure equity must stay above, e.g. {0.5 / self.leverage:g} (the default)"
            )
        self.maintenance_margin = float(maintenance_margin)
        if not is_finite_real(borrow_rate) or not 0.0 <= borrow_rate < 10.0:
            raise ConfigError(f"`borrow_rate` must be a yearly rate in [0, 10), was {borrow_rate!r}; e.g. 0.05 (5% a year)")
        self.borrow_rate = float(borrow_rate)

    def entry_budget(self, portfolio: "Portfolio") -> float:
        """The free margin: ``min(cash, cash + unrealised PnL)``."""
        return portfolio.cash + min(portfolio.unrealized_pnl, 0.0)

    def borrow_cost(self, portfolio: "Portfolio", prices: list[float], columns: dict[str, int], years: float, bar: int) -> float:
        """``borrow_rate * years *`` (short notional at `prices` + cash borrowed by leveraged
        longs), over the positions opened before bar `bar`."""
        if not self.borrow_rate or not years > 0.0:
            return 0.0
        borrowed = 0.0
        for position in portfolio.open_positions():
            if position.entry_bar >= bar:
                continue
            if position.side > 0:
                borrowed += position.borrowed
            else:
                borrowed += position.qty * prices[columns[position.pair]]
        return self.borrow_rate * years * borrowed

    def requirement(self, portfolio: "Portfolio") -> float:
        """Maintenance requirement now: ``maintenance_margin * gross exposure``."""
        return self.maintenance_margin * portfolio.gross_exposure

    def liquidations(self, portfolio: "Portfolio", market: "MarketData", bar: int) -> list[LiquidationOrder]:
        """Every open position, at its liquidation price, if the requirement is breached at bar
        `bar`; else nothing (see the class docstring)."""
        if not portfolio.open_count:
            return []
        positions = portfolio.open_positions()
        mm = self.maintenance_margin
        if not self.intrabar_liquidation:
            if portfolio.equity > self.requirement(portfolio):
                return []
            return [LiquidationOrder(p.id, float(market.mark[bar, market.pair_index[p.pair]])) for p in positions]
        # one common path: each pair moves from its open (mark if no bar) towards its adverse
        # extreme, p(x) = start + x * (extreme - start), x in [0, 1]; equity - requirement is
        # linear in the prices, so in x. A pair has one price at a time, so its adverse extreme
        # is that of the book in the pair: the low when the surplus rises with its price (net
        # long beyond the requirement's growth), else the high (e.g. a hedged long + short).
        columns = [market.pair_index[p.pair] for p in positions]
        slope: dict[int, float] = {}  # d(equity - requirement) / d(price) per pair column
        for p, j in zip(positions, columns):
            slope[j] = slope.get(j, 0.0) + p.side * p.qty - mm * p.qty
        path: dict[int, tuple[float, float]] = {}
        for j, rising in slope.items():
            if market.has_bar[bar, j]:
                start = float(market.open[bar, j])
                path[j] = (start, float(market.low[bar, j] if rising > 0.0 else market.high[bar, j]))
            else:
                mark = float(market.mark[bar, j])
                path[j] = (mark, mark)
        starts = [path[j][0] for j in columns]
        ends = [path[j][1] for j in columns]

        def surplus(prices: list[float]) -> float:
            value = sum(p.value_at(x) for p, x in zip(positions, prices))
            gross = sum(p.qty * x for p, x in zip(positions, prices))
            return portfolio.cash + value - mm * gross

        at_start, at_end = surplus(starts), surplus(ends)
        if at_start <= 0.0:
            prices = starts  # opened beyond the requirement: a gap
        elif at_end > 0.0:
            return []
        else:
            x = at_start / (at_start - at_end)
            prices = [s + x * (e - s) for s, e in zip(starts, ends)]
        return [LiquidationOrder(p.id, price) for p, price in zip(positions, prices)]

    def __repr__(self) -> str:
        return (
            f"VirtualMarginExecutor(fee={self.fee_model!r}, slippage={self.slippage_model!r}, leverage={self.leverage!r}, "
            f"maintenance_margin={self.maintenance_margin!r}, borrow_rate={self.borrow_rate!r}, "
            f"max_volume_participation={self.max_volume_participation!r}, min_notional={self.min_notional!r}, "
            f"intrabar_liquidation={self.intrabar_liquidation!r})"
        )
