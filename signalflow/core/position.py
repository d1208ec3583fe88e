"""`Position`: one long or short holding, changed only by applying fills to it."""

from __future__ import annotations

from datetime import datetime
from operator import attrgetter
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping

from signalflow.core.enums import PositionType
from signalflow.core.errors import AccountingError, PositionReadOnlyError

if TYPE_CHECKING:
    from signalflow.core.order import Fill

__all__ = ["Position"]

_LONG = PositionType.LONG


def _refuse_write(position: "Position", name: str) -> None:
    raise PositionReadOnlyError(
        f"`Position.{name}` is read-only (position `{position.id}`); positions change only through "
        f"decisions (StrategyDecision ENTER/CLOSE), which the broker fills and the portfolio applies"
    )


def _read_only(name: str, doc: str) -> property:
    """A public read-only attribute backed by the slot `_<name>`; writing it raises
    `PositionReadOnlyError` (positions change only through decisions and fills)."""
    return property(attrgetter(f"_{name}"), lambda position, value: _refuse_write(position, name), None, doc)


class Position:
    """An open or closed position in one pair.

    Money is in quote currency. `qty` is in base units (always > 0; the side is
    `position_type`). `realized_pnl` and `unrealized_pnl` are *gross* price PnL;
    fees are tracked apart in `fees_paid` (entry + exit), so
    ``net_pnl = realized_pnl - fees_paid`` for a closed position.

    Shorts are collateralised on spot: opening a short locks ``qty * entry_price``
    of cash as collateral, and the position's marked value is that collateral
    plus its unrealised PnL.

    Every attribute is read-only: writing one raises `PositionReadOnlyError`. A
    position changes only through its `Portfolio`, which marks it to each bar's
    price (`mark`) and applies the fill that closes it (`apply`). Models and rules
    see the same objects and cannot change the books through them.

    Built by hand (e.g. for a model's unit test), only `id`, `pair`,
    `position_type`, `entry_price` and `qty` are needed: `last_price` defaults to
    `entry_price` and `last_time` to `entry_time`.
    """

    __slots__ = (
        "_id", "_pair", "_position_type", "_qty", "_entry_price", "_entry_time", "_last_price", "_last_time",
        "_entry_bar", "_fees_paid", "_realized_pnl", "_is_closed", "_exit_price", "_exit_time", "_exit_bar",
        "_exit_reason", "_meta", "_margin",
    )

    def __init__(
        self,
        id: str,
        pair: str,
        position_type: PositionType | str = PositionType.LONG,
        qty: float = 0.0,
        entry_price: float = 0.0,
        entry_time: datetime | None = None,
        last_price: float | None = None,
        last_time: datetime | None = None,
        entry_bar: int = 0,
        fees_paid: float = 0.0,
        realized_pnl: float = 0.0,
        is_closed: bool = False,
        exit_price: float | None = None,
        exit_time: datetime | None = None,
        exit_bar: int | None = None,
        exit_reason: str | None = None,
        meta: Mapping[str, Any] | None = None,
        margin: float | None = None,
    ) -> None:
        self._id = id
        self._pair = pair
        self._position_type = PositionType(position_type)
        self._qty = qty
        self._entry_price = entry_price
        self._entry_time = entry_time
        self._last_price = entry_price if last_price is None else last_price
        self._last_time = entry_time if last_time is None else last_time
        self._entry_bar = entry_bar
        self._fees_paid = fees_paid
        self._realized_pnl = realized_pnl
        self._is_closed = is_closed
        self._exit_price = exit_price
        self._exit_time = exit_time
        self._exit_bar = exit_bar
        self._exit_reason = exit_reason
        self._meta = dict(meta) if meta else {}
        self._margin = margin

    @classmethod
    def from_fill(cls, fill: "Fill", *, meta: Mapping[str, Any] | None = None) -> "Position":
        """The position an entry `fill` opens: `fill.qty` at `fill.price`, paying `fill.fee`."""
        if not fill.is_entry:
            raise AccountingError(f"fill for `{fill.position_id}` is an exit; only an entry fill opens a position")
        return cls(
            id=fill.position_id,
            pair=fill.pair,
            position_type=fill.position_type,
            qty=fill.qty,
            entry_price=fill.price,
            entry_time=fill.time,
            entry_bar=fill.bar,
            fees_paid=fill.fee,
            meta=meta,
            margin=fill.margin,
        )

    id = _read_only("id", "Unique id within the run (`pos_000001`, ...).")
    pair = _read_only("pair", "The pair held.")
    position_type = _read_only("position_type", "LONG or SHORT.")
    qty = _read_only("qty", "Quantity in base units (> 0).")
    entry_price = _read_only("entry_price", "Fill price of the entry (quote currency per base unit).")
    entry_time = _read_only("entry_time", "Time of the entry fill.")
    last_price = _read_only("last_price", "Price the position is marked at (the exit price once closed).")
    last_time = _read_only("last_time", "Time of `last_price`.")
    entry_bar = _read_only("entry_bar", "Index of the entry bar on the run's timestamp axis.")
    fees_paid = _read_only("fees_paid", "Entry + exit fees paid so far (quote currency).")
    realized_pnl = _read_only("realized_pnl", "Gross price PnL realised by the exit (0 while open).")
    is_closed = _read_only("is_closed", "True once the exit fill was applied.")
    exit_price = _read_only("exit_price", "Fill price of the exit, or None while open.")
    exit_time = _read_only("exit_time", "Time of the exit fill, or None while open.")
    exit_bar = _read_only("exit_bar", "Index of the exit bar, or None while open.")
    exit_reason = _read_only("exit_reason", "Why it was closed (`ExitReason` value or a rule's own), or None.")
    margin = _read_only(
        "margin",
        "Cash locked as initial margin (``qty * entry_price / leverage``) if this is a margin-account "
        "position; None for a spot position (a long holds the asset, a short locks its notional).",
    )

    @property
    def meta(self) -> Mapping[str, Any]:
        """Free-form data of the entry (the ENTER decision's `meta`), read-only."""
        return MappingProxyType(self._meta)

    @meta.setter
    def meta(self, value: Any) -> None:
        _refuse_write(self, "meta")

    @property
    def side(self) -> int:
        """+1 for LONG, -1 for SHORT."""
        return 1 if self._position_type is _LONG else -1

    @property
    def unrealized_pnl(self) -> float:
        """Gross PnL of an open position at `last_price`; 0.0 once closed."""
        if self._is_closed:
            return 0.0
        return self.side * (self._last_price - self._entry_price) * self._qty

    @property
    def entry_notional(self) -> float:
        """qty * entry_price."""
        return self._qty * self._entry_price

    @property
    def cost_basis(self) -> float:
        """Cash paid at entry besides the fee: `margin` on a margin account, else ``qty * entry_price``."""
        return self._qty * self._entry_price if self._margin is None else self._margin

    @property
    def borrowed(self) -> float:
        """Cash borrowed for a leveraged margin long (``qty * entry_price - margin``); 0.0 otherwise."""
        if self._margin is None or self._position_type is not _LONG:
            return 0.0
        return max(self._qty * self._entry_price - self._margin, 0.0)

    @property
    def market_value(self) -> float:
        """What the position adds to equity at `last_price` (0.0 once closed): spot long
        ``qty * price``, spot short ``qty * (2 * entry - price)`` (collateral + PnL), margin
        ``margin + side * (price - entry) * qty``."""
        return 0.0 if self._is_closed else self.value_at(self._last_price)

    def value_at(self, price: float) -> float:
        """What the open position would add to equity marked at `price`: spot long ``qty * price``,
        spot short ``qty * (2 * entry - price)`` (collateral + PnL), margin ``margin + side *
        (price - entry) * qty``."""
        if self._margin is not None:
            return self._margin + self.side * (price - self._entry_price) * self._qty
        if self._position_type is _LONG:
            return self._qty * price
        return self._qty * (2.0 * self._entry_price - price)

    @property
    def net_pnl(self) -> float:
        """realized_pnl + unrealized_pnl - fees_paid."""
        return self._realized_pnl + self.unrealized_pnl - self._fees_paid

    # -- changes: called by the Portfolio that holds the position -------------------------------
    def mark(self, price: float, time: datetime) -> None:
        """Mark the open position to `price` at `time` (no cash moves; its portfolio sums the values)."""
        if self._is_closed:
            raise AccountingError(f"position `{self._id}` ({self._pair}) is closed; it cannot be marked")
        self._last_price = price
        self._last_time = time

    def apply(self, fill: "Fill") -> float:
        """Apply the exit `fill` that closes the whole position; return the cash it releases
        (spot long: ``qty * price - fee``; spot short: collateral + PnL - fee; margin: margin +
        PnL - fee, which is negative when the loss exceeds the margin).

        Raises `AccountingError` if the position is already closed (a position is never
        closed twice), or if the fill is not a full exit of this position.
        """
        if self._is_closed:
            raise AccountingError(
                f"position `{self._id}` ({self._pair}) is already closed "
                f"(at bar {self._exit_bar}, reason {self._exit_reason!r}); it cannot be closed again"
            )
        if fill.is_entry or fill.position_id != self._id or fill.qty != self._qty:
            raise AccountingError(
                f"fill ({'entry' if fill.is_entry else 'exit'} of `{fill.position_id}`, qty {fill.qty!r}) does not "
                f"close position `{self._id}` (qty {self._qty!r}); only a full exit fill of it can be applied"
            )
        price, fee = fill.price, fill.fee
        pnl = self.side * (price - self._entry_price) * self._qty
        self._realized_pnl += pnl
        self._fees_paid += fee
        self._last_price = price
        self._last_time = fill.time
        self._exit_price = price
        self._exit_time = fill.time
        self._exit_bar = fill.bar
        self._exit_reason = fill.reason
        self._is_closed = True
        if self._margin is not None:
            return self._margin + pnl - fee
        if self._position_type is _LONG:
            return self._qty * price - fee
        return self._qty * self._entry_price + pnl - fee

    def __repr__(self) -> str:
        state = f"closed at {self._exit_price!r} ({self._exit_reason})" if self._is_closed else f"open, last {self._last_price!r}"
        return (
            f"Position(id={self._id!r}, pair={self._pair!r}, {self._position_type.value}, qty={self._qty!r}, "
            f"entry_price={self._entry_price!r}, {state})"
        )
