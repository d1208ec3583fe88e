"""`Portfolio`: the one accounting of a run: cash, positions, marks and equity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any

from signalflow.core.enums import PositionType
from signalflow.core.errors import AccountingError
from signalflow.core.order import Fill
from signalflow.core.position import Position

__all__ = ["Portfolio"]

#: `Portfolio._marking_columns` when the book's columns must be looked up at the next mark.
_NOT_LOOKED_UP: Any = object()


class Portfolio:
    """Cash (quote currency) and every position opened in a run.

    This is the only code that computes cash, marked position values, unrealised
    PnL and equity; the runner, the metrics and the rules ask it. Positions change
    only when a fill is applied (`apply`) and are revalued only by marking them to
    a bar's prices (`mark`). The totals (`positions_value`, `gross_exposure`,
    `unrealized_pnl`, `equity`) are those of the last mark or fill, summed position by
    position in opening order, so every reader gets the same bits.

    Margin-account positions (`Position.margin` set) lock their margin instead of their
    notional; borrow costs (`charge_borrow`) come out of cash, and a liquidation that
    leaves cash below zero with nothing open is written off (`write_off_shortfall`), after
    which the account takes no new entries (`halted`). So at every point
    ``initial cash + realized_pnl + unrealized_pnl - fees_paid - borrow_paid + shortfall
    == equity`` (to rounding).

    `positions` maps id -> `Position` for all positions, open or closed, in
    opening order. `pending_close` and `pending_entries` are kept by the broker for
    orders waiting for the next open (`fill_at="next_open"`), so that rules see what
    those orders will do (`is_closable`, `projected_open_count`).
    """

    __slots__ = (
        "_cash", "_positions", "_open", "_fees_paid", "_realized_pnl", "_trades_closed", "_version",
        "_value", "_gross", "_unrealized", "_cost_basis", "_book", "_borrow_paid", "_shortfall", "_halted_at",
        "_n_short", "_marking", "_marking_columns", "pending_close", "pending_entries",
    )

    def __init__(self, cash: float) -> None:
        self._cash = float(cash)
        self._positions: dict[str, Position] = {}
        self._open: dict[str, Position] = {}
        self._fees_paid = 0.0
        self._realized_pnl = 0.0
        self._trades_closed = 0
        self._version = 0
        self._value = self._gross = self._unrealized = self._cost_basis = 0.0
        self._borrow_paid = self._shortfall = 0.0
        self._halted_at: int | None = None
        self._n_short = 0
        # per open position, in opening order, what marking it needs besides the price:
        # (position, pair, qty, entry price, is long, margin or None); rebuilt when a position
        # opens or closes
        self._book: list[tuple[Position, str, float, float, bool, float | None]] = []
        # the book with each pair replaced by its column in `_marking_columns`, the pair ->
        # column map `mark` was last given (looked up once per book and map, not per bar)
        self._marking: list[tuple[Position, int, float, float, bool, float | None]] = []
        self._marking_columns: Any = _NOT_LOOKED_UP
        #: Ids of open positions with an exit order waiting for the next open.
        self.pending_close: set[str] = set()
        #: Entry orders waiting for the next open.
        self.pending_entries = 0

    # -- what it holds -----------------------------------------------------------------------
    @property
    def cash(self) -> float:
        """Free cash (collateral of shorts is not free)."""
        return self._cash

    @property
    def positions(self) -> Mapping[str, Position]:
        """Every position of the run, open or closed, by id, in opening order (read-only)."""
        return MappingProxyType(self._positions)

    @property
    def fees_paid(self) -> float:
        """Fees of every fill so far (quote currency)."""
        return self._fees_paid

    @property
    def realized_pnl(self) -> float:
        """Gross realised PnL of the closed positions (fees excluded)."""
        return self._realized_pnl

    @property
    def trades_closed(self) -> int:
        """Number of closed positions."""
        return self._trades_closed

    @property
    def borrow_paid(self) -> float:
        """Borrow costs charged so far (quote currency; margin accounts)."""
        return self._borrow_paid

    @property
    def shortfall(self) -> float:
        """Losses beyond the account's equity written off after liquidations (quote currency, >= 0)."""
        return self._shortfall

    @property
    def halted(self) -> bool:
        """True once a shortfall was written off: the account takes no new entries."""
        return self._halted_at is not None

    @property
    def halted_at(self) -> int | None:
        """Bar at which the shortfall was written off, or None."""
        return self._halted_at

    @property
    def short_count(self) -> int:
        """Number of open short positions."""
        return self._n_short

    @property
    def version(self) -> int:
        """Bumped whenever a position opens or closes (lets rules cache per-position work)."""
        return self._version

    def open_positions(self) -> list[Position]:
        """Open positions, oldest first."""
        return list(self._open.values())

    @property
    def open_count(self) -> int:
        return len(self._open)

    @property
    def projected_open_count(self) -> int:
        """Open positions once pending orders fill (`fill_at="next_open"`): open - closing + entering."""
        return len(self._open) - len(self.pending_close) + self.pending_entries

    def closable_positions(self) -> list[Position]:
        """Open positions without an exit order already pending, oldest first."""
        if not self.pending_close:
            return list(self._open.values())
        return [p for p in self._open.values() if p.id not in self.pending_close]

    def is_closable(self, position_id: str) -> bool:
        """True if `position_id` is open and no exit order for it is pending."""
        return position_id in self._open and position_id not in self.pending_close

    def get_open(self, position_id: str) -> Position | None:
        """The open position with this id, or None (unknown or already closed)."""
        return self._open.get(position_id)

    # -- what it is worth (as of the last mark or fill) ----------------------------------------
    @property
    def positions_value(self) -> float:
        """Marked value of the open positions (long: qty * price; short: collateral + unrealised PnL)."""
        return self._value

    @property
    def gross_exposure(self) -> float:
        """Sum of qty * price over the open positions."""
        return self._gross

    @property
    def unrealized_pnl(self) -> float:
        """Gross unrealised PnL of the open positions."""
        return self._unrealized

    @property
    def equity(self) -> float:
        """cash + marked value of open positions."""
        return self._cash + self._value

    def totals(self) -> tuple[float, float, float, float, float, float, int, int, float]:
        """``(cash, positions_value, gross_exposure, unrealized_pnl, realized_pnl, fees_paid,
        open_count, trades_closed, borrow_paid)`` in one call (what the per-bar metrics read)."""
        return (
            self._cash, self._value, self._gross, self._unrealized, self._realized_pnl, self._fees_paid,
            len(self._open), self._trades_closed, self._borrow_paid,
        )

    # -- changes --------------------------------------------------------------------------------
    def mark(self, prices: Sequence[float], columns: Mapping[str, int], time: datetime) -> None:
        """Mark every open position to ``prices[columns[pair]]`` at `time` (a bar's row of
        mark prices and the pair -> column map of that row); no cash moves.

        The columns are looked up once per set of open positions and `columns` object (a run
        passes its market's `pair_index` on every bar), so `columns` must not be changed in
        place between calls."""
        if columns is not self._marking_columns:
            self._marking = [(p, columns[pair], qty, e, long, m) for p, pair, qty, e, long, m in self._book]
            self._marking_columns = columns
        value = gross = 0.0
        for position, column, qty, entry, long, margin in self._marking:  # (`Position.value_at`, inlined: once per position per bar)
            price = prices[column]
            position.mark(price, time)
            exposure = qty * price
            gross += exposure
            if margin is None:
                value += exposure if long else qty * (2.0 * entry - price)
            else:
                value += margin + ((price - entry) if long else (entry - price)) * qty
        self._value, self._gross, self._unrealized = value, gross, value - self._cost_basis

    def apply(self, fill: Fill, *, meta: Mapping[str, Any] | None = None) -> Position:
        """Apply `fill`: an entry opens position `fill.position_id` (`meta`: its free-form data),
        paying ``qty * price + fee`` from cash (a spot short's notional is locked as collateral;
        a margin entry pays ``fill.margin + fee``); an exit closes it and releases its value
        less the fee. Returns the position.

        Raises `AccountingError`, changing nothing, for an entry whose id exists or whose cost
        exceeds the free cash, and for an exit of a position that is not open.
        """
        if fill.is_entry:
            position = Position.from_fill(fill, meta=meta)
            if position.id in self._positions:
                raise AccountingError(f"position id `{position.id}` already exists; ids must be unique")
            cost = (fill.qty * fill.price if fill.margin is None else fill.margin) + fill.fee
            if cost > self._cash * (1.0 + 1e-12) + 1e-9:
                raise AccountingError(f"opening `{position.id}` needs {cost:.6f} cash, only {self._cash:.6f} is free")
            self._cash -= cost
            self._positions[position.id] = position
            self._open[position.id] = position
        else:
            position = self._open.get(fill.position_id)
            if position is None:
                raise AccountingError(f"position `{fill.position_id}` is not open; it cannot be closed")
            pnl_before = position.realized_pnl
            self._cash += position.apply(fill)
            del self._open[position.id]
            self._realized_pnl += position.realized_pnl - pnl_before
            self._trades_closed += 1
        self._fees_paid += fill.fee
        self._version += 1
        self._revalue()
        return position

    def charge_borrow(self, amount: float) -> None:
        """Pay `amount` (quote currency, >= 0) of borrow cost from cash (it may go below zero;
        the margin check then sees the lower equity)."""
        if not amount >= 0.0:
            raise AccountingError(f"a borrow charge must be >= 0, was {amount!r}")
        self._cash -= amount
        self._borrow_paid += amount

    def write_off_shortfall(self, bar: int) -> float:
        """With nothing open and cash below zero (a loss beyond the equity, e.g. a gap through
        a liquidation level), write the negative cash off as `shortfall`, set cash to 0 and
        halt the account from bar `bar` on (no new entries). Returns the amount (0.0 if none)."""
        if self._open:
            raise AccountingError("a shortfall is written off only with no position open; liquidate them first")
        if not self._cash < 0.0:
            return 0.0
        amount = -self._cash
        self._cash = 0.0
        self._shortfall += amount
        if self._halted_at is None:
            self._halted_at = bar
        return amount

    def _revalue(self) -> None:
        """Rebuild the marking book and the cost basis (sum of qty * entry price), and the
        totals at the prices the open positions hold (after a fill: a new position at its
        fill price). Unrealised PnL is value - cost basis, long or short (cost basis: qty *
        entry on spot, the margin on a margin account)."""
        self._book = [
            (p, p.pair, p.qty, p.entry_price, p.position_type is PositionType.LONG, p.margin) for p in self._open.values()
        ]
        self._marking_columns = _NOT_LOOKED_UP  # (columns are looked up again at the next mark)
        self._n_short = sum(1 for entry in self._book if not entry[4])
        value = gross = cost = 0.0
        for position, _, qty, entry, _, margin in self._book:
            value += position.value_at(position.last_price)
            gross += qty * position.last_price
            cost += qty * entry if margin is None else margin
        self._cost_basis = cost
        self._value, self._gross, self._unrealized = value, gross, value - cost

    def __repr__(self) -> str:
        return (
            f"Portfolio(cash={self._cash!r}, open={len(self._open)}, closed={self._trades_closed}, "
            f"equity={self.equity!r})"
        )
