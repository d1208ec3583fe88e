"""A run's life cycle: copying and pickling mid-run, closing early, and what happens when a bar raises."""

from __future__ import annotations

import copy
import gc
import pickle
import weakref

import pytest

from signalflow.core.errors import RunStateError
from signalflow.strategy.component.exit import TakeProfitStopLossExit
from signalflow.strategy.model import ModelEntryRule, ModelExitRule, StrategyAction, StrategyDecision
from signalflow.strategy.runner import BacktestRunner, MarketData


class SignalModel:
    def decide(self, context):
        return [StrategyDecision(action=StrategyAction.ENTER, pair=p, confidence=pr)
                for p, _t, pr in context.signals.ranked() if pr > 0.6]


def _runner(fill_at="close"):
    model = SignalModel()
    return BacktestRunner(
        entry_rules=[ModelEntryRule(model=model, base_position_size=0.3)],
        exit_rules=[ModelExitRule(model=model), TakeProfitStopLossExit(0.01, 0.01)],
        initial_capital=10_000.0,
        fill_at=fill_at,
    )


def _outcome(result):
    return result.trades_df.drop("meta", strict=False), result.metrics_df


@pytest.mark.parametrize("fill_at", ["close", "next_open"])
@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
@pytest.mark.parametrize("open_bar", [False, True], ids=["between bars", "bar open"])
def test_run_copied_mid_run_continues_like_the_original(small_market, how, fill_at, open_bar):
    market = MarketData.build(small_market.raw_data, small_market.signals)
    expected = _outcome(_runner(fill_at).start(market).finish())
    run = _runner(fill_at).start(market)
    for _ in range(150):
        run.step()
    if open_bar:
        assert run.begin_bar() is not None
    clone = copy.deepcopy(run) if how == "deepcopy" else pickle.loads(pickle.dumps(run))
    for r in (run, clone):
        if open_bar:
            r.end_bar()
        trades, metrics = _outcome(r.finish())
        assert trades.equals(expected[0]) and metrics.equals(expected[1])


def test_runner_with_tp_sl_pickles_after_a_run(small_market):
    runner = _runner()
    runner.run(small_market.raw_data, small_market.signals)
    clone = pickle.loads(pickle.dumps(runner))
    a = _outcome(runner.start(small_market.raw_data, small_market.signals).finish())
    b = _outcome(clone.start(small_market.raw_data, small_market.signals).finish())
    assert a[0].equals(b[0]) and a[1].equals(b[1])


def test_closed_run_reports_its_ended_bars_and_is_freed_at_once(small_market):
    runner = _runner()
    run = runner.start(small_market.raw_data, small_market.signals)
    for _ in range(10):
        run.step()
    assert run.begin_bar() is not None  # bar 10 open, never ended
    run.close()
    assert run.done and run.begin_bar() is None
    result = run.finish()
    assert result.metrics_df.height == 10
    gc.disable()
    try:
        ref = weakref.ref(run)
        del run, result
        assert ref() is None  # no reference cycle left for the garbage collector
    finally:
        gc.enable()


def test_rules_cannot_drive_the_run_they_run_in(small_market):
    holder = {}

    class Meddler:
        def decide(self, context):
            holder["run"].end_bar()
            return []

    runner = BacktestRunner(entry_rules=[ModelEntryRule(Meddler())])
    run = holder["run"] = runner.start(small_market.raw_data, small_market.signals)
    with pytest.raises(RunStateError, match="from inside the bar loop"):
        run.step()


def test_failure_while_opening_a_bar_names_that_bar(bars, scripted):
    runner = BacktestRunner(
        entry_rules=[ModelEntryRule(scripted({0: [StrategyDecision(action=StrategyAction.ENTER, pair="A")]}), base_position_size=0.5)],
        initial_capital=10_000.0,
        fill_at="next_open",
    )
    run = runner.start(bars({"A": [100.0, 101.0, 102.0, 103.0]}))
    run.step()  # the entry waits for bar 1's open

    def broken_fill(bar):
        raise ValueError("executor failed")

    runner.broker.fill_pending = broken_fill
    with pytest.raises(ValueError, match="executor failed"):
        run.begin_bar()
    with pytest.raises(RunStateError, match="bar 1 raised ValueError: executor failed"):
        run.begin_bar()


def test_stop_iteration_from_a_model_is_reported_as_such(bars):
    class Exhausted:
        def decide(self, context):
            return [next(iter(()))]

    run = BacktestRunner(entry_rules=[ModelEntryRule(Exhausted())]).start(bars({"A": [100.0, 101.0]}))
    with pytest.raises(RunStateError, match="raised StopIteration at bar 0") as info:
        run.step()
    assert isinstance(info.value.__cause__, StopIteration)
