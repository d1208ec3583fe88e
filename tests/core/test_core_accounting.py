"""Core accounting objects: a position closes once, cash is never overdrawn, shorts are collateralised."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from signalflow.core import DECISION_CACHE_KEY, AccountingError, Portfolio, Position, PositionType, StrategyState

T = datetime(2024, 1, 1)


def _position(pid="p1", side=PositionType.LONG, qty=2.0, entry=100.0) -> Position:
    return Position(id=pid, pair="A", position_type=side, qty=qty, entry_price=entry, entry_time=T,
                    last_price=entry, last_time=T)


def test_position_close_twice_raises_accounting_error():
    pos = _position()
    pos.close(price=110.0, time=T, bar=3, fee=0.2, reason="model")
    msg = "position `p1` (A) is already closed (at bar 3, reason 'model'); it cannot be closed again"
    with pytest.raises(AccountingError, match=f"^{re.escape(msg)}$"):
        pos.close(price=120.0, time=T, bar=4, fee=0.2, reason="take_profit")
    assert (pos.exit_price, pos.realized_pnl, pos.fees_paid) == (110.0, 20.0, 0.2)


def test_portfolio_close_unknown_position_raises_and_keeps_cash():
    pf = Portfolio(cash=1_000.0)
    with pytest.raises(AccountingError, match=r"^position `nope` is not open; it cannot be closed$"):
        pf.close_position("nope", cash_released=500.0, fee=0.0, pnl=0.0)
    assert pf.cash == 1_000.0


def test_portfolio_add_position_beyond_cash_raises():
    pf = Portfolio(cash=100.0)
    with pytest.raises(AccountingError, match=r"^opening `p1` needs 200\.200000 cash, only 100\.000000 is free$"):
        pf.add_position(_position(), cash_cost=200.2, fee=0.2)
    assert pf.cash == 100.0 and pf.open_count == 0


def test_portfolio_duplicate_position_id_raises():
    pf = Portfolio(cash=1_000.0)
    pf.add_position(_position(), cash_cost=200.0, fee=0.0)
    with pytest.raises(AccountingError, match=r"^position id `p1` already exists; ids must be unique$"):
        pf.add_position(_position(), cash_cost=200.0, fee=0.0)


def test_short_position_market_value_is_collateral_plus_unrealized():
    pos = _position(side=PositionType.SHORT, qty=2.0, entry=100.0)
    pos.mark(90.0, T)
    assert (pos.unrealized_pnl, pos.market_value) == (20.0, 220.0)


def test_short_close_releases_collateral_plus_pnl_minus_fee():
    pos = _position(side=PositionType.SHORT, qty=2.0, entry=100.0)
    assert pos.close(price=120.0, time=T, bar=1, fee=0.24, reason="stop_loss") == pytest.approx(200.0 - 40.0 - 0.24)
    assert (pos.market_value, pos.unrealized_pnl) == (0.0, 0.0)


def test_portfolio_equity_is_cash_plus_marked_positions():
    pf = Portfolio(cash=1_000.0)
    pf.add_position(_position("l", qty=2.0, entry=100.0), cash_cost=200.2, fee=0.2)
    pf.add_position(_position("s", side=PositionType.SHORT, qty=1.0, entry=100.0), cash_cost=100.1, fee=0.1)
    for p in pf.open_positions():
        p.mark(105.0, T)
    assert pf.equity == pytest.approx(699.7 + 210.0 + 95.0)
    assert pf.equity == pytest.approx(1_000.0 + pf.unrealized_pnl - pf.fees_paid)


def test_state_reset_tick_cache_clears_only_decision_cache():
    state = StrategyState(strategy_id="s", portfolio=Portfolio(cash=1.0))
    state.runtime.update({DECISION_CACHE_KEY: {1: []}, "regime": "bull"})
    state.reset_tick_cache()
    assert state.runtime == {"regime": "bull"}
