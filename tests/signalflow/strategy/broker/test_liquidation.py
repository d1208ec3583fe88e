"""Liquidation on spot and margin accounts, with hand-derived numbers.

The issue's case: a short of 100% of a $10,000 account at 100, the price taken to 400. Marked
without any liquidation it would be worth 10,000 - fee - qty * 300 ~= -$19,980; on both account
types it must end liquidated with equity >= 0 (a loss beyond the equity is written off as the
run's `liquidation_shortfall`, and the account then takes no new entries).

Sizing used throughout: an entry asked for more than the free cash is reduced to the largest
notional n with ``n * margin_rate + fee(n) <= cash``; with a 0.1% fee and the whole account,
n = 10,000 / (margin_rate + 0.001) (to 1e-12), so at price 100 and margin_rate 1 the position is
q = 99.9000999... units. The numbers below are derived from q, the entry's fill, and the rules
in the executors' docstrings.
"""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from signalflow.strategy.broker import BacktestBroker, VirtualMarginExecutor, VirtualSpotExecutor
from signalflow.strategy.model import ModelEntryRule, ModelExitRule, StrategyAction, StrategyDecision
from signalflow.strategy.runner import BacktestRunner

INITIAL = 10_000.0
FEE = 0.001
REL = 1e-9


def _enter(pair="A", direction="short", m=1.0):
    return StrategyDecision(action=StrategyAction.ENTER, pair=pair, size_multiplier=m, meta={"direction": direction})


def _close_all(pair="A"):
    return StrategyDecision(action=StrategyAction.CLOSE_ALL, pair=pair)


def _runner(model, executor, *, fill_at="close", base=1.0):
    return BacktestRunner(
        strategy_id="liquidation",
        broker=BacktestBroker(executor=executor),
        entry_rules=[ModelEntryRule(model=model, base_position_size=base, max_positions=5, allow_shorts=True)],
        exit_rules=[ModelExitRule(model=model)],
        initial_capital=INITIAL,
        fill_at=fill_at,
    )


def _executor(account, **kw):
    if account == "spot":
        return VirtualSpotExecutor(fee_rate=FEE, **kw)
    return VirtualMarginExecutor(fee_rate=FEE, leverage=kw.pop("leverage", 1.0), **kw)


def _entry(runner):
    (fill,) = [f for f in runner.broker.fills if f.is_entry]
    return fill


def _liquidations(runner):
    return [f for f in runner.broker.fills if f.reason == "liquidation"]


# ----------------------------------------------------------------------------- the case

GRADUAL = [100.0, 150.0, 200.0, 250.0, 300.0, 350.0, 400.0]
MARGIN_GRADUAL = [100.0, 120.0, 130.0, 140.0, 200.0, 300.0, 400.0]
GAP = [100.0, 400.0, 400.0]


def test_the_unprotected_short_would_be_worth_minus_19_980(bars, scripted):
    """What the account would be worth at 400 without liquidation (the issue's number)."""
    runner = _runner(scripted({0: [_enter()]}), VirtualSpotExecutor(fee_rate=FEE))
    runner.run(bars({"A": [100.0]}), None)
    e = _entry(runner)
    q = e.qty
    assert q == pytest.approx(INITIAL / 1.001 / 100.0, rel=1e-11)
    cash = INITIAL - q * e.price - e.fee
    assert cash + q * (2 * 100.0 - 400.0) == pytest.approx(-19_980.02, abs=0.01)


@pytest.mark.parametrize("account", ["spot", "margin"])
@pytest.mark.parametrize("path", ["gradual", "gap"])
def test_short_of_the_whole_account_taken_to_400_ends_liquidated_with_equity_at_least_zero(bars, scripted, account, path):
    prices = (GRADUAL if account == "spot" else MARGIN_GRADUAL) if path == "gradual" else GAP
    runner = _runner(scripted({0: [_enter()]}), _executor(account))
    runner.run(bars({"A": prices}), None)
    e = _entry(runner)
    q, cash0 = e.qty, INITIAL - e.qty * e.price - e.fee  # a margin entry at leverage 1 locks the notional too
    assert e.price == 100.0 and cash0 == pytest.approx(0.0, abs=1e-6)

    # the first bar at which the requirement is breached at the mark:
    # spot: mark >= 2 * entry; margin (leverage 1, maintenance 0.5): q * (200 - p) <= 0.5 * q * p, p >= 133.3
    if path == "gap":
        first = 1
    else:
        first = next(i for i, p in enumerate(prices) if (p >= 200.0 if account == "spot" else q * (200.0 - p) <= 0.5 * q * p))
        assert first == (2 if account == "spot" else 3)
    p = prices[first]
    # what closing the short at p releases: collateral / margin (q * 100) + pnl q * (100 - p), less the fee
    cash = cash0 + q * 100.0 + q * (100.0 - p) - FEE * q * p
    shortfall = max(-cash, 0.0)

    (liq,) = _liquidations(runner)
    assert (liq.bar, liq.price, liq.qty) == (first, p, q)
    m = runner.metrics_df
    equity = m["equity"].to_list()
    assert all(x > 0.0 for x in equity[:first])  # never earlier: open and worth more than 0 before
    assert runner.trades_df["exit_reason"].to_list() == ["liquidation"]
    assert runner.trades_df["bars_held"].to_list() == [first]
    assert min(equity) >= 0.0 and equity[-1] >= 0.0
    assert equity[first:] == pytest.approx([max(cash, 0.0)] * (len(prices) - first), rel=REL, abs=1e-6)
    s = runner.summary
    assert s["liquidations"] == 1.0
    assert s["liquidation_shortfall"] == pytest.approx(shortfall, rel=REL, abs=1e-6)
    assert runner.result.state.portfolio.halted is (shortfall > 0.0)
    if account == "spot" and path == "gradual":  # at exactly 2 x entry only the exit fee is missing
        assert shortfall == pytest.approx(FEE * q * 200.0, rel=REL)
    if path == "gap":  # 400: 200 * q beyond the collateral, plus the fee
        assert shortfall == pytest.approx(200.4 * q, rel=1e-6)
    if account == "margin" and path == "gradual":
        assert shortfall == 0.0 and cash == pytest.approx(59.86 * q, rel=1e-6)


@pytest.mark.parametrize("account", ["spot", "margin"])
def test_a_price_short_of_the_requirement_never_liquidates(bars, scripted, account):
    near = [100.0, 199.0, 150.0] if account == "spot" else [100.0, 133.0, 120.0]  # margin breaches at 133.33
    runner = _runner(scripted({0: [_enter()], 2: [_close_all()]}), _executor(account))
    runner.run(bars({"A": near}), None)
    assert not _liquidations(runner) and runner.summary["liquidations"] == 0.0
    assert runner.trades_df["exit_reason"].to_list() == ["model_close_all"]


# ----------------------------------------------------------------------------- intrabar


def test_spot_intrabar_liquidation_at_the_level_when_only_the_high_reaches_it(bars, scripted):
    runner = _runner(scripted({0: [_enter()]}), VirtualSpotExecutor(fee_rate=FEE, intrabar_liquidation=True))
    runner.run(bars({"A": [100.0, (150.0, 260.0, 140.0, 150.0), 150.0]}), None)
    (liq,) = _liquidations(runner)
    assert (liq.bar, liq.price) == (1, 200.0)  # the close (150) alone would not liquidate


def test_spot_intrabar_liquidation_at_the_open_when_the_bar_opens_beyond_the_level(bars, scripted):
    runner = _runner(scripted({0: [_enter()]}), VirtualSpotExecutor(fee_rate=FEE, intrabar_liquidation=True))
    runner.run(bars({"A": [100.0, (300.0, 320.0, 150.0, 160.0)]}), None)
    (liq,) = _liquidations(runner)
    assert (liq.bar, liq.price) == (1, 300.0)
    assert runner.metrics_df["equity"][-1] == 0.0 and runner.summary["liquidation_shortfall"] > 0.0


def test_margin_intrabar_liquidation_where_the_path_to_the_high_meets_the_requirement(bars, scripted):
    ex = VirtualMarginExecutor(fee_rate=FEE, leverage=1.0, intrabar_liquidation=True)
    runner = _runner(scripted({0: [_enter()]}), ex)
    runner.run(bars({"A": [100.0, (110.0, 150.0, 105.0, 120.0), 120.0]}), None)
    e = _entry(runner)
    q, cash0 = e.qty, INITIAL - e.qty * e.price - e.fee
    # cash0 + q * 100 + q * (100 - p) = 0.5 * q * p  ->  p = (cash0 + 200 q) / (1.5 q)
    (liq,) = _liquidations(runner)
    assert liq.bar == 1 and liq.price == pytest.approx((cash0 + 200.0 * q) / (1.5 * q), rel=1e-12)
    assert runner.summary["liquidation_shortfall"] == 0.0


def test_margin_intrabar_liquidation_moves_a_hedged_pair_along_one_path(bars, scripted):
    # a long and a short of the same size in A: the bar's wide range changes nothing
    ex = VirtualMarginExecutor(fee_rate=0.0, leverage=5.0, intrabar_liquidation=True)
    hedge = {1: [_enter(direction="long", m=2.0), _enter(direction="short", m=2.0)]}
    runner = _runner(scripted(hedge), ex)
    runner.run(bars({"A": [100.0, 100.0, (100.0, 125.0, 75.0, 100.0), 100.0]}), None)
    assert not _liquidations(runner)
    assert runner.metrics_df["equity"].to_list() == [INITIAL] * 4


def test_margin_intrabar_liquidation_fills_every_position_of_a_pair_at_one_price(bars, scripted):
    # net long (3 long, 1 short): the pair's adverse path is towards its low, for both positions
    ex = VirtualMarginExecutor(fee_rate=0.0, leverage=5.0, intrabar_liquidation=True)
    book = {1: [_enter(direction="long", m=3.0), _enter(direction="short", m=1.0)]}
    runner = _runner(scripted(book), ex, base=1.0)
    runner.run(bars({"A": [100.0, 100.0, (100.0, 101.0, 50.0, 60.0), 60.0]}), None)
    liquidations = _liquidations(runner)
    assert len(liquidations) == 2 and liquidations[0].price == liquidations[1].price
    long_qty = sum(f.qty for f in runner.broker.fills if f.is_entry and f.position_type.value == "long")
    short_qty = sum(f.qty for f in runner.broker.fills if f.is_entry and f.position_type.value == "short")
    # cash + long_qty * p - short_qty * p ... == 0.1 * (long_qty + short_qty) * p at the level p
    p = liquidations[0].price
    equity = INITIAL + (long_qty - short_qty) * (p - 100.0)
    assert 50.0 < p < 100.0 and equity == pytest.approx(0.1 * (long_qty + short_qty) * p, rel=1e-9)


# ----------------------------------------------------------------------------- margin long, leverage


def test_margin_long_at_5x_liquidated_on_the_first_mark_below_its_maintenance_price(bars, scripted):
    ex = VirtualMarginExecutor(fee_rate=FEE, leverage=5.0)  # maintenance 0.1
    prices = [100.0, 95.0, 90.0, 89.0, 88.0, 85.0]
    runner = _runner(scripted({0: [_enter(direction="long", m=5.0)]}), ex)
    runner.run(bars({"A": prices}), None)
    e = _entry(runner)
    q = e.qty
    assert e.margin == pytest.approx(q * 100.0 / 5.0, rel=1e-12)
    assert e.margin + e.fee == pytest.approx(INITIAL, rel=1e-9)  # the whole account, leverage 5
    cash0 = INITIAL - e.margin - e.fee
    # breached when cash0 + margin + q (p - 100) <= 0.1 q p  ->  p <= (100 q - margin - cash0) / (0.9 q) ~ 88.9
    threshold = (100.0 * q - e.margin - cash0) / (0.9 * q)
    assert 88.0 < threshold < 89.0
    (liq,) = _liquidations(runner)
    assert (liq.bar, liq.price) == (4, 88.0)
    released = cash0 + e.margin + q * (88.0 - 100.0) - FEE * q * 88.0
    assert runner.metrics_df["equity"][-1] == pytest.approx(released, rel=REL)
    assert runner.summary["liquidation_shortfall"] == 0.0


# ----------------------------------------------------------------------------- write-off and halt


def test_spot_short_liquidation_sells_the_other_positions_and_writes_off_the_rest(bars, scripted):
    model = scripted({0: [_enter("A", "short", 0.5), _enter("B", "long", 0.4)], 2: [_enter("B", "long", 0.1)]})
    runner = _runner(model, VirtualSpotExecutor(fee_rate=FEE))
    runner.run(bars({"A": [100.0, 300.0, 300.0], "B": [10.0, 10.0, 10.0]}), None)
    # bar 0: short A 50 @ 100 (fee 5), long B 400 @ 10 (fee 4): cash 991
    # bar 1: A's mark 300 >= 200: closing it releases 50 * 100 + 50 * (100 - 300) - 15 = -5_015 -> cash -4_024;
    #        B is sold at its mark: 4_000 - 4 -> cash -28, written off
    liq = _liquidations(runner)
    assert [(f.pair, f.bar, f.price) for f in liq] == [("A", 1, 300.0), ("B", 1, 10.0)]
    assert runner.summary["liquidation_shortfall"] == pytest.approx(28.0, rel=1e-9)
    assert runner.summary["liquidations"] == 2.0
    assert runner.metrics_df["equity"].to_list()[1:] == [0.0, 0.0]
    # halted: the entry at bar 2 is rejected, with the reason
    assert [r.reason for r in runner.result.rejected] == [
        "the account was liquidated with a shortfall at bar 1; it takes no new entries"
    ]
    assert len(runner.broker.fills) == 4


@pytest.mark.parametrize("account", ["spot", "margin"])
def test_a_pending_close_filled_at_a_gapped_open_writes_off_the_loss_beyond_the_equity(bars, scripted, account):
    """Regression: a rule's exit queued for the next open, which gaps 5x against the short, used
    to leave cash at -25,454 with nothing open: no write-off, no halt, equity below zero."""
    model = scripted({0: [_enter()], 1: [_close_all()], 3: [_enter(direction="long", m=0.5)]})
    runner = _runner(model, _executor(account), fill_at="next_open")
    runner.run(bars({"A": [100.0, 110.0, (500.0, 500.0, 500.0, 500.0), 500.0, 500.0]}), None)
    # entry at bar 1's open (110): q = (10_000 / 1.001) / 110; the exit fills at bar 2's open, 500
    e = _entry(runner)
    q = e.qty
    assert (e.bar, e.price) == (1, 110.0) and q == pytest.approx(INITIAL / 1.001 / 110.0, rel=1e-11)
    cash = INITIAL - q * 110.0 - e.fee + q * 110.0 + q * (110.0 - 500.0) - FEE * q * 500.0
    assert cash < -25_000.0
    exit_fill = runner.broker.fills[1]
    assert (exit_fill.bar, exit_fill.price, exit_fill.reason) == (2, 500.0, "model_close_all")
    assert runner.summary["liquidation_shortfall"] == pytest.approx(-cash, rel=1e-9)
    assert runner.metrics_df["equity"].to_list()[2:] == [0.0, 0.0, 0.0]
    assert runner.result.state.portfolio.halted and runner.result.state.portfolio.halted_at == 2
    assert runner.result.rejected[-1].reason.startswith("the account was liquidated with a shortfall at bar 2")


# ----------------------------------------------------------------------------- borrow


def test_margin_borrow_accrues_per_bar_on_short_notional_and_borrowed_cash_by_real_spacing(bars, scripted):
    ex = VirtualMarginExecutor(fee_rate=0.0, leverage=2.0, borrow_rate=0.5)
    model = scripted({0: [_enter("A", "short", 0.5), _enter("B", "long", 1.0)]})
    frame = bars({"A": [100.0, 110.0, 120.0, 90.0], "B": [10.0, 10.0, 10.0, 10.0]})
    # bars 1 day, 1 hour and 30 days apart
    offsets = [timedelta(0), timedelta(days=1), timedelta(days=1, hours=1), timedelta(days=31, hours=1)]
    times = sorted(set(frame["timestamp"].to_list()))
    frame = frame.with_columns(frame["timestamp"].replace_strict({t: times[0] + d for t, d in zip(times, offsets)}))
    runner = _runner(model, ex)
    runner.run(frame, None)
    # short A: 5_000 notional (50 units); long B: 10_000 notional at 2x, margin 5_000, borrowed 5_000
    short_qty = 50.0
    borrowed = 10_000.0 - 5_000.0
    year = 365 * 86_400.0
    expected, total = [0.0], 0.0
    for t, mark in zip(range(1, 4), [110.0, 120.0, 90.0]):
        dt = (offsets[t] - offsets[t - 1]).total_seconds() / year
        total += 0.5 * dt * (short_qty * mark + borrowed)
        expected.append(total)
    assert runner.metrics_df["borrow_paid"].to_list() == pytest.approx(expected, rel=1e-12)
    assert runner.summary["borrow_paid"] == pytest.approx(total, rel=1e-12)
    pf = runner.result.state.portfolio
    unrealized = sum(p.unrealized_pnl for p in pf.open_positions())
    assert pf.equity == pytest.approx(INITIAL + unrealized - total, rel=1e-12)


def test_margin_borrow_not_charged_on_the_bar_a_next_open_position_opens(bars, scripted):
    ex = VirtualMarginExecutor(fee_rate=0.0, leverage=1.0, borrow_rate=1.0)
    runner = _runner(scripted({0: [_enter("A", "short", 0.5)]}), ex, fill_at="next_open")
    runner.run(bars({"A": [100.0, 100.0, 100.0]}), None)
    # opened at bar 1's open: nothing at bar 1, one minute of 50 units * 100 at bar 2
    assert runner.metrics_df["borrow_paid"].to_list() == pytest.approx([0.0, 0.0, 5_000.0 * 60 / (365 * 86_400)], rel=1e-12)


def test_spot_account_never_charges_borrow(bars, scripted):
    runner = _runner(scripted({0: [_enter("A", "short", 0.5)]}), VirtualSpotExecutor(fee_rate=FEE))
    runner.run(bars({"A": [100.0, 120.0, 130.0]}), None)
    assert runner.summary["borrow_paid"] == 0.0 and runner.metrics_df["borrow_paid"].max() == 0.0
    assert math.isclose(runner.metrics_df["equity"][-1], INITIAL - 5.0 - 50 * 30.0, rel_tol=1e-12)
