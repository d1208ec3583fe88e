"""The per-bar decision cache: `decide()` once per bar per model, never reused on a later bar."""

from __future__ import annotations

from signalflow.strategy.model import (
    ModelEntryRule,
    ModelExitRule,
    PendingOrders,
    StrategyAction,
    StrategyDecision,
    context_with_pending,
)
from signalflow.strategy.runner import BacktestRunner

ENTER_A = StrategyDecision(action=StrategyAction.ENTER, pair="A")


def test_model_shared_by_entry_and_exit_rules_called_once_per_bar(bars, scripted):
    model = scripted()
    runner = BacktestRunner(entry_rules=[ModelEntryRule(model=model)], exit_rules=[ModelExitRule(model=model)])
    runner.run(bars({"A": [100.0] * 7}), None)
    assert [c.bar_index for c in model.calls] == list(range(7))
    assert runner.summary["model_calls"] == 7


def test_two_models_each_called_once_per_bar(bars, scripted):
    m1, m2 = scripted(), scripted()
    runner = BacktestRunner(
        entry_rules=[ModelEntryRule(model=m1), ModelEntryRule(model=m2)],
        exit_rules=[ModelExitRule(model=m2), ModelExitRule(model=m1)],
    )
    runner.run(bars({"A": [100.0] * 5}), None)
    assert [c.bar_index for c in m1.calls] == [c.bar_index for c in m2.calls] == list(range(5))


def test_decisions_of_one_bar_not_reused_on_next_bars(bars, scripted):
    model = scripted({0: [ENTER_A]})
    runner = BacktestRunner(entry_rules=[ModelEntryRule(model=model)], exit_rules=[ModelExitRule(model=model)])
    runner.run(bars({"A": [100.0] * 6}), None)
    assert runner.trades_df.height == 1


def test_stepped_put_decisions_replaces_model_call_for_that_bar_only(bars, scripted):
    model = scripted()
    runner = BacktestRunner(entry_rules=[ModelEntryRule(model=model)], exit_rules=[ModelExitRule(model=model)])
    run = runner.start(bars({"A": [100.0] * 3}), None)
    run.begin_bar()
    run.put_decisions(model, [ENTER_A])
    report = run.end_bar()
    assert model.calls == [] and len(report.fills) == 1
    run.begin_bar()
    run.end_bar()
    assert [c.bar_index for c in model.calls] == [1]
    assert run.finish().trades_df.height == 1


def test_stepped_context_of_bar_visible_before_its_decisions(bars, scripted):
    model = scripted({1: [ENTER_A]})
    runner = BacktestRunner(entry_rules=[ModelEntryRule(model=model)])
    run = runner.start(bars({"A": [100.0, 101.0, 102.0]}), None)
    run.begin_bar(); run.end_bar()
    ctx = run.begin_bar()
    assert (ctx.bar_index, dict(ctx.prices), list(ctx.positions)) == (1, {"A": 101.0}, [])
    assert [c.bar_index for c in model.calls] == [0]  # bar 1 not decided yet
    run.end_bar()
    assert [c.bar_index for c in model.calls] == [0, 1] and run.state.portfolio.open_count == 1


def test_model_sees_orders_waiting_for_the_next_open_in_context_pending(bars, scripted):
    """Bar 1 enters A and B, bar 3 closes both; B has no bar at 2 and 4, so its orders wait there."""
    model = scripted({
        1: [ENTER_A, StrategyDecision(action=StrategyAction.ENTER, pair="B")],
        3: lambda ctx: [StrategyDecision(action=StrategyAction.CLOSE, pair=p.pair, position_id=p.id) for p in ctx.positions],
    })
    runner = BacktestRunner(entry_rules=[ModelEntryRule(model=model)], exit_rules=[ModelExitRule(model=model)],
                            fill_at="next_open")
    runner.run(bars({"A": [100.0] * 6, "B": [100.0, 100.0, None, 100.0, None, 100.0]}), None)
    seen = {c.bar_index: c for c in model.calls}
    assert seen[1].pending == PendingOrders() and seen[1].projected_open_count == 0
    assert (seen[2].pending.entries, seen[2].pending.closing, len(seen[2].positions)) == (1, frozenset(), 1)
    assert seen[2].projected_open_count == 2  # A filled at bar 2's open, B waits
    (b,) = [p for p in seen[4].positions if p.pair == "B"]
    assert (seen[4].pending.entries, seen[4].pending.closing) == (0, frozenset({b.id}))
    assert not seen[4].is_closable(b.id) and seen[4].projected_open_count == 0
    assert seen[5].pending == PendingOrders() and runner.trades_df.height == 2


def test_context_with_pending_is_the_same_context_when_nothing_waits(bars):
    runner = BacktestRunner()
    run = runner.start(bars({"A": [100.0] * 2}), None)
    ctx = run.begin_bar()
    assert context_with_pending(ctx, run.state.portfolio) is ctx
