"""What a model receives cannot change the books: positions, prices, signals and metrics seen in a
`ModelContext` refuse changes, and a run whose model tries every one of them ends exactly as a run
whose model does not."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from signalflow.core.errors import PositionReadOnlyError
from signalflow.core.position import Position
from signalflow.strategy.model import ModelEntryRule, ModelExitRule, StrategyAction, StrategyDecision
from signalflow.strategy.runner import BacktestRunner

T0 = datetime(2024, 1, 1)
ATTRIBUTES = ("id", "pair", "position_type", "qty", "entry_price", "entry_time", "last_price", "last_time",
              "entry_bar", "fees_paid", "realized_pnl", "is_closed", "exit_price", "exit_time", "exit_bar",
              "exit_reason", "meta")


def _bars(n: int = 12) -> pl.DataFrame:
    ts = [T0 + timedelta(minutes=i) for i in range(n)]
    close = [100.0 + 3.0 * (i % 4) for i in range(n)]
    return pl.DataFrame({"pair": ["A"] * n, "timestamp": ts, "open": close, "high": close, "low": close, "close": close})


class EnterThenClose:
    """ENTER at bars 1 and 6, CLOSE the oldest open position at bars 4 and 9; with `tamper`, first
    tries to write every attribute of every position it is shown (and `p.qty *= 100`)."""

    def __init__(self, tamper: bool) -> None:
        self.tamper = tamper
        self.refused: list[str] = []

    def decide(self, context):
        if self.tamper:
            for p in context.positions:
                for name in ATTRIBUTES:
                    try:
                        setattr(p, name, 0)
                    except PositionReadOnlyError:
                        self.refused.append(name)
                with pytest.raises(PositionReadOnlyError, match="positions change only through decisions"):
                    p.qty *= 100
                with pytest.raises(TypeError):
                    p.meta["x"] = 1  # type: ignore[index]
                with pytest.raises(TypeError):
                    context.prices["A"] = 1.0  # type: ignore[index]
        if context.bar_index in (1, 6):
            return [StrategyDecision(action=StrategyAction.ENTER, pair="A")]
        if context.bar_index in (4, 9) and context.positions:
            p = context.positions[0]
            return [StrategyDecision(action=StrategyAction.CLOSE, pair="A", position_id=p.id)]
        return []


def _run(model) -> BacktestRunner:
    runner = BacktestRunner(entry_rules=[ModelEntryRule(model, base_position_size=0.5)], exit_rules=[ModelExitRule(model)])
    runner.run(_bars(), None)
    return runner


def test_writing_any_attribute_of_a_context_position_raises_and_changes_no_book():
    tampering, plain = EnterThenClose(tamper=True), EnterThenClose(tamper=False)
    tampered, clean = _run(tampering), _run(plain)
    positions_seen = sum(1 for name in tampering.refused if name == "qty")
    assert positions_seen >= 4  # positions were shown on several bars, and every write refused
    assert tampering.refused == list(ATTRIBUTES) * positions_seen
    assert_frame_equal(tampered.trades_df, clean.trades_df)
    assert_frame_equal(tampered.metrics_df, clean.metrics_df)
    state = tampered.result.state
    pf = state.portfolio
    assert pf.equity == pytest.approx(10_000.0 + pf.realized_pnl + pf.unrealized_pnl - pf.fees_paid, rel=1e-12)
    assert all(isinstance(p, Position) for p in pf.positions.values())
