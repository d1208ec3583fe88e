"""Bad decisions: counted skips with a reason (the run continues) or `DecisionError` at construction."""

from __future__ import annotations

import re

import pytest

from signalflow.core import DecisionError
from signalflow.strategy.broker import BacktestBroker
from signalflow.strategy.broker.executor import VirtualSpotExecutor
from signalflow.strategy.model import ModelEntryRule, ModelExitRule, StrategyAction, StrategyDecision
from signalflow.strategy.runner import BacktestRunner

A, B = "A", "B"


def _enter(pair=A):
    return StrategyDecision(action=StrategyAction.ENTER, pair=pair)


def _close(pid, pair=A):
    return StrategyDecision(action=StrategyAction.CLOSE, pair=pair, position_id=pid)


def _runner(model):
    return BacktestRunner(
        strategy_id="decisions",
        broker=BacktestBroker(executor=VirtualSpotExecutor(fee_rate=0.001)),
        entry_rules=[ModelEntryRule(model=model, base_position_size=0.1)],
        exit_rules=[ModelExitRule(model=model)],
        initial_capital=10_000.0,
    )


PRICES = {A: [100.0, 101.0, 102.0, 103.0], B: [50.0, None, 52.0, 53.0]}


def test_close_unknown_position_id_skipped_with_reason_run_continues(bars, scripted):
    runner = _runner(scripted({1: [_close("nope")]}))
    runner.run(bars(PRICES), None)
    assert runner.summary["decisions_skipped"] == 1
    (skip,) = runner.result.skipped
    assert (skip.bar, skip.action, skip.position_id, skip.reason) == (1, "close", "nope", "position_id 'nope' is unknown")
    assert runner.metrics_df.height == 4


def test_close_already_closed_position_skipped_not_closed_twice(bars, scripted, accounting):
    runner = _runner(scripted({0: [_enter()], 1: [_close("pos_000001")], 2: [_close("pos_000001")]}))
    state = runner.run(bars(PRICES), None)
    assert [s.reason for s in runner.result.skipped] == ["position_id 'pos_000001' is already closed"]
    assert sum(1 for f in runner.broker.fills if not f.is_entry) == 1
    accounting(state, 10_000.0)


def test_close_same_position_twice_in_one_bar_closed_once(bars, scripted, accounting):
    runner = _runner(scripted({0: [_enter()], 1: [_close("pos_000001"), _close("pos_000001")]}))
    state = runner.run(bars(PRICES), None)
    assert [s.reason for s in runner.result.skipped] == ["position_id 'pos_000001' is already being closed"]
    assert sum(1 for f in runner.broker.fills if not f.is_entry) == 1
    accounting(state, 10_000.0)


def test_close_position_of_other_pair_skipped(bars, scripted):
    runner = _runner(scripted({0: [_enter()], 1: [_close("pos_000001", pair=B)]}))
    runner.run(bars({A: [100.0, 101.0], B: [50.0, 51.0]}), None)
    assert [s.reason for s in runner.result.skipped] == ["position_id 'pos_000001' belongs to 'A', not 'B'"]
    assert runner.trades_df["is_closed"].to_list() == [False]


def test_enter_pair_without_bar_at_timestamp_skipped(bars, scripted):
    runner = _runner(scripted({1: [_enter(B)]}))
    runner.run(bars(PRICES), None)
    assert [s.reason for s in runner.result.skipped] == ["pair 'B' has no bar at this timestamp; it cannot be traded now"]
    assert runner.trades_df.height == 0


def test_close_position_whose_pair_has_no_bar_skipped_and_kept_open(bars, scripted, accounting):
    runner = _runner(scripted({0: [_enter(B)], 1: [_close("pos_000001", pair=B)]}))
    state = runner.run(bars(PRICES), None)
    assert [s.reason for s in runner.result.skipped] == ["pair 'B' has no bar at this timestamp; it cannot be traded now"]
    assert runner.trades_df["is_closed"].to_list() == [False]
    assert runner.metrics_df["open_positions"].to_list() == [1.0, 1.0, 1.0, 1.0]
    accounting(state, 10_000.0)


def test_close_all_pair_without_bar_skipped(bars, scripted):
    close_all = StrategyDecision(action=StrategyAction.CLOSE_ALL, pair=B)
    runner = _runner(scripted({0: [_enter(B)], 1: [close_all], 2: [close_all]}))
    runner.run(bars(PRICES), None)
    assert [(s.bar, s.action) for s in runner.result.skipped] == [(1, "close_all")]
    assert runner.trades_df.select("is_closed", "exit_reason").row(0) == (True, "model_close_all")


def test_enter_unknown_pair_skipped(bars, scripted):
    runner = _runner(scripted({0: [_enter("ZZZ")]}))
    runner.run(bars(PRICES), None)
    assert runner.summary["decisions_skipped"] == 1
    assert runner.result.skipped[0].pair == "ZZZ"


def test_close_and_reenter_same_bar_exits_before_entries(bars, scripted):
    close_all = StrategyDecision(action=StrategyAction.CLOSE_ALL, pair=A)
    runner = _runner(scripted({0: [_enter()], 2: [close_all, _enter()]}))
    runner.run(bars(PRICES), None)
    rows = runner.trades_df.select("position_id", "is_closed", "entry_price", "exit_price").rows()
    assert rows == [("pos_000001", True, 100.0, 102.0), ("pos_000002", False, 102.0, None)]


def test_skips_counted_in_metrics_df_on_their_bar(bars, scripted):
    runner = _runner(scripted({1: [_close("x")], 3: [_close("y"), _close("z")]}))
    runner.run(bars(PRICES), None)
    assert runner.metrics_df["decisions_skipped"].to_list() == [0.0, 1.0, 1.0, 3.0]


# ----------------------------------------------------------------------------- construction errors


def _exact(msg: str) -> str:
    return f"^{re.escape(msg)}$"


@pytest.mark.parametrize("value", [1.5, -0.1, float("nan"), float("inf")])
def test_decision_confidence_out_of_range_raises_decision_error(value):
    with pytest.raises(DecisionError, match=_exact(f"`confidence` must be a finite number in [0, 1], was {value!r}")):
        StrategyDecision(action=StrategyAction.ENTER, pair=A, confidence=value)


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan")])
def test_decision_size_multiplier_not_positive_raises_decision_error(value):
    msg = f"size_multiplier must be positive (a finite number in (0, 10]), was {value!r}; it scales the entry rule's base_position_size"
    with pytest.raises(DecisionError, match=_exact(msg)):
        StrategyDecision(action=StrategyAction.ENTER, pair=A, size_multiplier=value)


@pytest.mark.parametrize("value", [10.5, float("inf")])
def test_decision_size_multiplier_above_ten_raises_decision_error(value):
    with pytest.raises(DecisionError, match=_exact(f"`size_multiplier` must be a finite number in (0, 10], was {value!r}")):
        StrategyDecision(action=StrategyAction.ENTER, pair=A, size_multiplier=value)


def test_decision_close_without_position_id_raises_decision_error():
    msg = "CLOSE action requires position_id, was None; use CLOSE_ALL to close every position of a pair"
    with pytest.raises(DecisionError, match=_exact(msg)):
        StrategyDecision(action=StrategyAction.CLOSE, pair=A)


def test_decision_enter_without_pair_raises_decision_error():
    with pytest.raises(DecisionError, match=_exact("`pair` is required for ENTER decisions, was None")):
        StrategyDecision(action=StrategyAction.ENTER)


def test_decision_bounds_inclusive_accepted():
    d = StrategyDecision(action=StrategyAction.ENTER, pair=A, confidence=0.0, size_multiplier=10.0)
    assert (d.confidence, d.size_multiplier) == (0.0, 10.0)


def test_model_returning_non_decision_raises_decision_error(bars, scripted):
    runner = _runner(scripted({0: ["enter A"]}))
    with pytest.raises(DecisionError, match=r"^ScriptedModel\.decide\(\) must return a list of StrategyDecision, item 0 was str"):
        runner.run(bars(PRICES), None)


def test_run_whose_bar_raised_refuses_to_continue(bars, scripted):
    """After an error inside a bar the run's state is half-updated: every further call says so."""
    from signalflow.core.errors import RunStateError

    runner = _runner(scripted({0: [_enter()], 2: ["not a decision"]}))
    run = runner.start(bars(PRICES))
    run.step()
    run.step()
    assert run.begin_bar() is not None
    with pytest.raises(DecisionError):
        run.end_bar()
    for call in (run.begin_bar, run.end_bar, run.run_to_end, run.finish):
        with pytest.raises(RunStateError, match=r"cannot continue: bar 2 raised DecisionError.*runner\.start"):
            call()
    fresh = _runner(scripted({0: [_enter()]}))
    assert fresh.run(bars(PRICES), None).portfolio.open_count == 1  # a new run is unaffected


def test_decision_meta_must_be_a_dict_and_defaults_to_a_fresh_one():
    with pytest.raises(DecisionError, match=r"`meta` must be a dict, was NoneType"):
        StrategyDecision(action=StrategyAction.HOLD, meta=None)
    a, b = StrategyDecision(action=StrategyAction.HOLD), StrategyDecision(action=StrategyAction.HOLD)
    assert a.meta == {} and a.meta is not b.meta


def test_decision_dataclass_subclass_is_validated_and_keeps_defaults():
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Tagged(StrategyDecision):
        tag: str = ""

    tagged = Tagged(action="enter", pair=A, tag="x")
    assert tagged.action is StrategyAction.ENTER and tagged.confidence == 1.0 and tagged.meta == {}
    with pytest.raises(DecisionError, match="`confidence` must be"):
        Tagged(action="enter", pair=A, confidence=5.0)
    with pytest.raises(DecisionError, match="`action` must be a StrategyAction"):
        Tagged(action="bogus", pair=A)
    assert [f.default for f in dataclasses.fields(StrategyDecision)][1:5] == [None, None, 1.0, 1.0]


def test_enter_pair_not_in_the_market_skipped_with_a_reason_naming_the_pairs(bars, scripted):
    runner = _runner(scripted({1: [_enter("BTCUSD")]}))
    runner.run(bars(PRICES), None)
    assert [s.reason for s in runner.result.skipped] == [
        "pair 'BTCUSD' is not in the market data (its pairs: 'A', 'B'); check the pair's spelling"
    ]
    assert runner.trades_df.height == 0
