"""Exit rules that say when they next need a call (`ExitRule.next_check_bar`) are not called
before it; a subclass that adds exits of its own is called every bar without declaring anything.
Every result must be exactly what calling every rule on every bar gives."""

from __future__ import annotations

import dataclasses
import inspect
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from signalflow.core.order import Fill
from signalflow.data.synthetic import make_synthetic_market
from signalflow.strategy.component import ExitRule
from signalflow.strategy.component.orders import exit_order
from signalflow.strategy.component.exit import TakeProfitStopLossExit
from signalflow.strategy.model import ModelContext, ModelEntryRule, ModelExitRule, StrategyAction, StrategyDecision
from signalflow.strategy.runner import BacktestRunner

T0 = datetime(2024, 1, 1)


def _bars(n: int) -> pl.DataFrame:
    ts = [T0 + timedelta(minutes=i) for i in range(n)]
    close = [100.0 + i for i in range(n)]
    return pl.DataFrame({"pair": ["A"] * n, "timestamp": ts, "open": close, "high": close, "low": close, "close": close})


class PromisingRule(ExitRule):
    """Closes nothing; promises no orders for the next `gap` bars. Records the bars it is asked."""

    def __init__(self, gap: int) -> None:
        self.gap = gap
        self.asked: list[int] = []

    def check_exits(self, context, state):
        self.asked.append(context.bar_index)
        return []

    def next_check_bar(self, context, state):
        return context.bar_index + self.gap


class EnterAt:
    """ENTER pair A on the given bars."""

    def __init__(self, *bars: int) -> None:
        self.bars = set(bars)

    def decide(self, context):
        if context.bar_index in self.bars:
            return [StrategyDecision(action=StrategyAction.ENTER, pair="A")]
        return []


def _run(exit_rules, model, data, **kwargs) -> BacktestRunner:
    runner = BacktestRunner(
        entry_rules=[ModelEntryRule(model, base_position_size=0.1, max_positions=5)],
        exit_rules=exit_rules,
        **kwargs,
    )
    runner.run(data, None)
    return runner


def test_promised_bars_are_skipped_until_the_promised_bar():
    rule = PromisingRule(gap=4)
    _run([rule], EnterAt(), _bars(12))
    assert rule.asked == [0, 4, 8]


@pytest.mark.parametrize("fill_at", ["close", "next_open"])
def test_a_position_opening_ends_the_promise(fill_at):
    # The entry decided at bar 2 fills at bar 2's close (or at bar 3's open, before bar 3's
    # exit rules): either way the portfolio has changed when bar 3's exit rules run, so the
    # rule is asked at bar 3, then keeps its rhythm.
    rule = PromisingRule(gap=4)
    runner = _run([rule], EnterAt(2), _bars(14), fill_at=fill_at)
    assert runner.trades_df.height == 1
    expected = [0]
    t = 3
    while t < 14:
        expected.append(t)
        t += 4
    assert rule.asked == expected


def test_each_run_keeps_its_own_promises():
    rule = PromisingRule(gap=100)
    runner = BacktestRunner(entry_rules=[ModelEntryRule(EnterAt(), max_positions=1)], exit_rules=[rule])
    runner.run(_bars(5), None)
    runner.run(_bars(5), None)
    assert rule.asked == [0, 0]


def test_next_check_bar_defaults_to_every_bar():
    class Plain(ExitRule):
        def __init__(self):
            self.asked = []

        def check_exits(self, context, state):
            self.asked.append(context.bar_index)
            return []

    rule = Plain()
    _run([rule], EnterAt(), _bars(6))
    assert rule.asked == list(range(6))
    assert rule.next_check_bar(None, None) is None


class TimeStop(TakeProfitStopLossExit):
    """TP/SL plus a time stop: adds its own exits to the list the base rule returns."""

    def __init__(self, max_bars: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_bars = max_bars

    def check_exits(self, context, state):
        orders = super().check_exits(context, state)
        for pos in state.portfolio.closable_positions():
            if context.bar_index - pos.entry_bar >= self.max_bars:
                orders.append(exit_order(pos, bar=context.bar_index, time=context.timestamp, reason="max_hold"))
        return orders


class TimeStopAround(ExitRule):
    """The same, wrapping a TP/SL rule instead of subclassing it."""

    def __init__(self, max_bars: int) -> None:
        self.inner = TakeProfitStopLossExit(take_profit_pct=0.05, stop_loss_pct=0.05)
        self.max_bars = max_bars

    def on_start(self, market) -> None:
        self.inner.on_start(market)

    def check_exits(self, context, state):
        orders = self.inner.check_exits(context, state)
        orders.extend(
            exit_order(p, bar=context.bar_index, time=context.timestamp, reason="max_hold")
            for p in state.portfolio.closable_positions()
            if context.bar_index - p.entry_bar >= self.max_bars
        )
        return orders


@pytest.mark.parametrize("make", [lambda: TimeStop(5, take_profit_pct=0.05, stop_loss_pct=0.05), lambda: TimeStopAround(5)])
def test_a_rule_passing_on_the_tp_sl_promise_is_still_asked_every_bar(make):
    # Flat prices: no level is ever reached, so the TP/SL part promises quiet bars to the end;
    # the time stop must still close the position entered at bar 2 after 5 bars.
    n = 40
    close = [100.0 + 0.01 * (i % 3) for i in range(n)]
    data = pl.DataFrame({"pair": ["A"] * n, "timestamp": [T0 + timedelta(minutes=i) for i in range(n)],
                         "open": close, "high": close, "low": close, "close": close})
    runner = _run([make()], EnterAt(2), data)
    assert runner.trades_df.select("exit_reason", "bars_held").to_dicts() == [{"exit_reason": "max_hold", "bars_held": 5}]


class Counting:
    """Mixin: records the bars at which `check_exits` is called."""

    def check_exits(self, context, state):
        self.asked = getattr(self, "asked", [])
        self.asked.append(context.bar_index)
        return super().check_exits(context, state)


def _asked(rule, n: int = 30) -> list[int]:
    close = [100.0 + 0.01 * (i % 3) for i in range(n)]  # flat: no level is ever reached
    data = pl.DataFrame({"pair": ["A"] * n, "timestamp": [T0 + timedelta(minutes=i) for i in range(n)],
                         "open": close, "high": close, "low": close, "close": close})
    _run([rule], EnterAt(2), data)
    return rule.asked


def test_only_a_class_that_defines_check_exits_with_its_hook_is_skipped():
    class Inherits(TakeProfitStopLossExit):  # same check_exits and hook: skipped like TP/SL
        pass

    class CountsAndKeepsHook(Counting, TakeProfitStopLossExit):  # its own check_exits, its own hook
        def next_check_bar(self, context, state):
            return super().next_check_bar(context, state)

    class CountsWithoutHook(Counting, TakeProfitStopLossExit):  # its own check_exits only: every bar
        pass

    patched = TakeProfitStopLossExit()
    patched.asked = []
    inner = patched.check_exits
    patched.check_exits = lambda context, state: (patched.asked.append(context.bar_index), inner(context, state))[1]

    assert _asked(CountsAndKeepsHook()) == [0, 3]  # quiet until a position opens (bar 2), then to the end
    assert _asked(CountsWithoutHook()) == list(range(30))
    assert _asked(patched) == list(range(30))
    rule = Inherits()
    assert type(rule).next_check_bar is TakeProfitStopLossExit.next_check_bar


class Returns(ExitRule):
    """An exit rule returning `result(context, state)` as is."""

    def __init__(self, result) -> None:
        self.result = result

    def check_exits(self, context, state):
        return self.result(context, state)


def _close_all(context, state):
    return [exit_order(p, bar=context.bar_index, time=context.timestamp, reason="rule") for p in state.portfolio.closable_positions()]


@pytest.mark.parametrize("shape", [tuple, iter, lambda orders: np.array(orders, dtype=object)])
def test_rules_may_return_any_iterable_of_orders(shape):
    runner = _run([Returns(lambda c, s: shape(_close_all(c, s)))], EnterAt(1, 4), _bars(8))
    assert runner.trades_df["exit_reason"].to_list() == ["rule", "rule"]
    assert runner.trades_df["bars_held"].to_list() == [1, 1]


def test_a_rule_returning_none_is_an_error_that_names_it():
    with pytest.raises(TypeError, match=r"Returns.check_exits\(\) returned None; return a list of orders \(\[\] for none\)"):
        _run([Returns(lambda c, s: None)], EnterAt(), _bars(3))


def test_fill_is_a_plain_dataclass_with_its_signature():
    signature = inspect.signature(Fill)
    assert list(signature.parameters) == [f.name for f in dataclasses.fields(Fill)]
    assert signature.parameters["qty"].annotation == "float"


class Unpromised(ExitRule):
    """The same rule, its promises dropped: the runner must ask it every bar."""

    def __init__(self, rule: ExitRule) -> None:
        self.rule = rule
        self.fills_intrabar = rule.fills_intrabar

    def on_start(self, market) -> None:
        self.rule.on_start(market)

    def check_exits(self, context, state):
        return list(self.rule.check_exits(context, state))


class GuideModel:
    """The guide's Quick Start model."""

    def decide(self, context):
        return [
            StrategyDecision(action=StrategyAction.ENTER, pair=row["pair"], confidence=row["probability"])
            for row in context.signals.value.iter_rows(named=True)
            if row["probability"] > 0.7
        ]


@pytest.mark.parametrize("fill_at", ["close", "next_open"])
@pytest.mark.parametrize("intrabar", [False, True])
def test_tp_sl_promises_change_no_trade(fill_at, intrabar):
    market = make_synthetic_market(seed=3, n_pairs=3, n_bars=3_000, signal_rate=0.05)

    def result(wrap):
        model = GuideModel()
        tp_sl = TakeProfitStopLossExit(take_profit_pct=0.01, stop_loss_pct=0.008, intrabar=intrabar)
        runner = BacktestRunner(
            entry_rules=[ModelEntryRule(model, base_position_size=0.1, max_positions=4, min_confidence=0.6)],
            exit_rules=[ModelExitRule(model), wrap(tp_sl)],
            fill_at=fill_at,
        )
        runner.run(market.raw_data, market.signals)
        return runner.result

    res_promised = result(lambda rule: rule)
    res_plain = result(Unpromised)
    assert res_plain.summary["n_trades"] > 20  # the levels are reached often enough to matter
    assert_frame_equal(res_promised.trades_df, res_plain.trades_df)
    assert_frame_equal(res_promised.metrics_df, res_plain.metrics_df)


def test_contexts_are_frozen_model_contexts():
    seen = []

    class Looks:
        def decide(self, context):
            seen.append(context)
            return []

    BacktestRunner(entry_rules=[ModelEntryRule(Looks())]).run(_bars(3), None)
    assert [type(c) for c in seen] == [ModelContext] * 3
    ctx = seen[1]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.prices = {}  # type: ignore[misc]
    rebuilt = ModelContext(**{f.name: getattr(ctx, f.name) for f in dataclasses.fields(ModelContext)})
    assert rebuilt == ctx
    assert dataclasses.replace(ctx, bar_index=7).bar_index == 7
    assert ctx.bar_index == 1 and ctx.timestamp == T0 + timedelta(minutes=1)


class RandomSides:
    """ENTER long or short (or CLOSE the oldest position) at random, per bar index."""

    def __init__(self, seed: int, shorts: bool) -> None:
        self.seed, self.shorts = seed, shorts

    def decide(self, context):
        rng = np.random.default_rng((self.seed, context.bar_index))
        out = []
        for pair in sorted(context.prices):
            if rng.random() < 0.15:
                side = "short" if self.shorts and rng.random() < 0.5 else "long"
                out.append(StrategyDecision(action=StrategyAction.ENTER, pair=pair, meta={"direction": side}))
        if context.positions and rng.random() < 0.1:
            p = context.positions[0]
            out.append(StrategyDecision(action=StrategyAction.CLOSE, pair=p.pair, position_id=p.id))
        return out


@pytest.mark.parametrize("shorts", [False, True])
def test_marked_equity_is_exactly_the_portfolios_every_bar(shorts):
    market = make_synthetic_market(seed=11, n_pairs=4, n_bars=400, signal_rate=0.05)
    model = RandomSides(5, shorts)
    runner = BacktestRunner(
        entry_rules=[ModelEntryRule(model, base_position_size=0.05, max_positions=8, allow_shorts=shorts)],
        exit_rules=[ModelExitRule(model)],
    )
    run = runner.start(market.raw_data, market.signals)
    books = set()
    while (ctx := run.begin_bar()) is not None:
        pf = run.state.portfolio
        assert ctx.metrics["equity"] == pf.equity  # pre-trade, as marked
        assert ctx.metrics["unrealized_pnl"] == pytest.approx(pf.unrealized_pnl, abs=1e-9)
        books.add(tuple(sorted({p.position_type.value for p in pf.open_positions()})))
        run.end_bar()
        assert run.state.metrics["equity"] == pf.equity  # post-trade
    assert () in books
    if shorts:  # the general marking path (some position is short) was taken
        assert any("short" in book for book in books)
    else:  # the long-only path
        assert books == {(), ("long",)}


def test_empty_bars_iterate_no_rows_every_time():
    market = make_synthetic_market(seed=2, n_pairs=2, n_bars=50, signal_rate=0.05)
    frames = []

    class Collect:
        def decide(self, context):
            frames.append(context.signals.value)
            return []

    BacktestRunner(entry_rules=[ModelEntryRule(Collect())]).run(market.raw_data, market.signals)
    empty = [f for f in frames if f.height == 0]
    full = [f for f in frames if f.height > 0]
    assert empty and full
    for frame in empty[:3]:
        assert list(frame.iter_rows(named=True)) == [] and list(frame.iter_rows()) == []
    for frame in full[:3]:
        assert list(frame.iter_rows(named=True)) == frame.to_dicts()
