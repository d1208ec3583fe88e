"""The per-bar decision cache: `decide()` once per bar per model, never reused on a later bar."""

from __future__ import annotations

from signalflow.strategy.model import ModelEntryRule, ModelExitRule, StrategyAction, StrategyDecision
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
