"""Core accounting: positions change only by applied fills; a position closes once, cash is never
overdrawn, shorts are collateralised, and the portfolio's totals are the one source of equity."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from signalflow.core import (
    DECISION_CACHE_KEY,
    AccountingError,
    Fill,
    OrderSide,
    Portfolio,
    Position,
    PositionType,
    StrategyState,
)
from signalflow.core.errors import PositionReadOnlyError

T = datetime(2024, 1, 1)
COLUMNS = {"A": 0}


def _entry(pid="p1", side=PositionType.LONG, qty=2.0, price=100.0, fee=0.0, bar=0) -> Fill:
    return Fill(pair="A", side=OrderSide.BUY if side is PositionType.LONG else OrderSide.SELL, position_type=side,
                qty=qty, price=price, fee=fee, time=T, bar=bar, position_id=pid, is_entry=True)


def _exit(position: Position, price: float, fee: float = 0.0, bar: int = 3, reason: str = "model") -> Fill:
    side = OrderSide.SELL if position.position_type is PositionType.LONG else OrderSide.BUY
    return Fill(pair=position.pair, side=side, position_type=position.position_type, qty=position.qty, price=price,
                fee=fee, time=T, bar=bar, position_id=position.id, is_entry=False, reason=reason)


def test_exit_fill_applied_twice_raises_accounting_error():
    pf = Portfolio(cash=1_000.0)
    pos = pf.apply(_entry())
    pf.apply(_exit(pos, 110.0, fee=0.2, bar=3, reason="model"))
    msg = "position `p1` (A) is already closed (at bar 3, reason 'model'); it cannot be closed again"
    with pytest.raises(AccountingError, match=f"^{re.escape(msg)}$"):
        pos.apply(_exit(pos, 120.0, fee=0.2, bar=4, reason="take_profit"))
    with pytest.raises(AccountingError, match=r"^position `p1` is not open; it cannot be closed$"):
        pf.apply(_exit(pos, 120.0))
    assert (pos.exit_price, pos.realized_pnl, pos.fees_paid) == (110.0, 20.0, 0.2)
    assert pf.cash == pytest.approx(1_000.0 + 20.0 - 0.2)


def test_portfolio_close_unknown_position_raises_and_keeps_cash():
    pf = Portfolio(cash=1_000.0)
    stranger = Position(id="nope", pair="A", position_type=PositionType.LONG, entry_price=100.0, qty=1.0)
    with pytest.raises(AccountingError, match=r"^position `nope` is not open; it cannot be closed$"):
        pf.apply(_exit(stranger, 100.0))
    assert pf.cash == 1_000.0


def test_portfolio_entry_beyond_cash_raises_and_changes_nothing():
    pf = Portfolio(cash=100.0)
    with pytest.raises(AccountingError, match=r"^opening `p1` needs 200\.200000 cash, only 100\.000000 is free$"):
        pf.apply(_entry(fee=0.2))
    assert pf.cash == 100.0 and pf.open_count == 0 and pf.version == 0 and not pf.positions


def test_portfolio_duplicate_position_id_raises():
    pf = Portfolio(cash=1_000.0)
    pf.apply(_entry())
    with pytest.raises(AccountingError, match=r"^position id `p1` already exists; ids must be unique$"):
        pf.apply(_entry())
    assert pf.open_count == 1 and pf.cash == 800.0


def test_short_position_market_value_is_collateral_plus_unrealized():
    pf = Portfolio(cash=1_000.0)
    pos = pf.apply(_entry(side=PositionType.SHORT, qty=2.0, price=100.0))
    pf.mark([90.0], COLUMNS, T)
    assert (pos.unrealized_pnl, pos.market_value) == (20.0, 220.0)
    assert (pf.unrealized_pnl, pf.positions_value, pf.gross_exposure) == (20.0, 220.0, 180.0)


def test_short_close_releases_collateral_plus_pnl_minus_fee():
    pf = Portfolio(cash=1_000.0)
    pos = pf.apply(_entry(side=PositionType.SHORT, qty=2.0, price=100.0))
    pf.apply(_exit(pos, 120.0, fee=0.24))
    assert pf.cash == pytest.approx(800.0 + 200.0 - 40.0 - 0.24)
    assert (pos.market_value, pos.unrealized_pnl) == (0.0, 0.0)


def test_portfolio_equity_is_cash_plus_marked_positions():
    pf = Portfolio(cash=1_000.0)
    pf.apply(_entry("l", qty=2.0, price=100.0, fee=0.2))
    pf.apply(_entry("s", side=PositionType.SHORT, qty=1.0, price=100.0, fee=0.1))
    pf.mark([105.0], COLUMNS, T)
    assert pf.equity == pytest.approx(699.7 + 210.0 + 95.0)
    assert pf.equity == pytest.approx(1_000.0 + pf.unrealized_pnl - pf.fees_paid)
    assert pf.equity == pf.cash + pf.positions_value


def test_marking_with_the_same_columns_includes_positions_opened_and_drops_those_closed_since():
    pf = Portfolio(cash=1_000.0)
    columns = {"A": 0, "B": 1}
    pf.apply(_entry("a", qty=2.0, price=100.0))
    pf.mark([110.0, 50.0], columns, T)
    b = pf.apply(Fill(pair="B", side=OrderSide.BUY, position_type=PositionType.LONG, qty=1.0, price=50.0, fee=0.0,
                      time=T, bar=1, position_id="b", is_entry=True))
    pf.mark([120.0, 60.0], columns, T)  # the same columns object: "b" is marked too
    assert (pf.positions_value, b.last_price) == (2.0 * 120.0 + 60.0, 60.0)
    pf.apply(_exit(pf.get_open("a"), 120.0))
    pf.mark([130.0, 70.0], columns, T)
    assert pf.positions_value == 70.0 and pf.get_open("a") is None


def test_marking_with_no_columns_map_raises():
    pf = Portfolio(cash=1_000.0)
    pf.apply(_entry("a"))
    with pytest.raises(TypeError):  # right after a fill (columns not looked up yet) as after a mark
        pf.mark([110.0], None, T)  # type: ignore[arg-type]
    pf.mark([110.0], COLUMNS, T)
    with pytest.raises(TypeError):
        pf.mark([120.0], None, T)  # type: ignore[arg-type]
    assert pf.positions_value == 2.0 * 110.0


def test_a_fill_that_is_not_a_full_exit_is_refused():
    pf = Portfolio(cash=1_000.0)
    pos = pf.apply(_entry(qty=2.0))
    partial = Fill(pair="A", side=OrderSide.SELL, position_type=PositionType.LONG, qty=1.0, price=100.0, fee=0.0,
                   time=T, bar=1, position_id="p1", is_entry=False)
    with pytest.raises(AccountingError, match="only a full exit fill of it can be applied"):
        pf.apply(partial)
    assert pos.is_closed is False and pf.open_count == 1 and pf.cash == 800.0


@pytest.mark.parametrize("name", ["id", "pair", "position_type", "qty", "entry_price", "entry_time", "last_price",
                                  "last_time", "entry_bar", "fees_paid", "realized_pnl", "is_closed", "exit_price",
                                  "exit_time", "exit_bar", "exit_reason", "meta"])
def test_every_position_attribute_is_read_only(name):
    pos = Position(id="p1", pair="A", position_type=PositionType.LONG, entry_price=100.0, qty=1.0)
    before = repr(pos)
    with pytest.raises(PositionReadOnlyError, match=r"read-only.*positions change only through decisions"):
        setattr(pos, name, 5)
    assert repr(pos) == before


def test_hand_built_position_defaults():
    pos = Position(id="p1", pair="BTCUSDT", position_type=PositionType.LONG, entry_price=50_000.0, qty=0.1)
    assert (pos.last_price, pos.entry_time, pos.last_time, pos.fees_paid, pos.is_closed) == (50_000.0, None, None, 0.0, False)
    assert pos.unrealized_pnl == 0.0 and pos.meta == {}


def test_state_reset_tick_cache_clears_only_decision_cache():
    state = StrategyState(strategy_id="s", portfolio=Portfolio(cash=1.0))
    state.runtime.update({DECISION_CACHE_KEY: {1: []}, "regime": "bull"})
    state.reset_tick_cache()
    assert state.runtime == {"regime": "bull"}
