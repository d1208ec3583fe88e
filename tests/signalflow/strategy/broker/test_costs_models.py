"""Unit tests of the cost models: each fee model's fee and `max_notional`, `PerPairFee`
dispatch, each slippage model's price, `past_volatility` (past bars only), the volume cap, the
validation messages, and the default spot executor's unchanged behaviour.

Expected values are derived by hand from the formulas in the models' docstrings.
"""

from __future__ import annotations

import math
import statistics

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signalflow.core.enums import OrderSide
from signalflow.core.errors import ConfigError
from signalflow.data.market import MarketData
from signalflow.strategy.broker import (
    BacktestBroker,
    FixedFee,
    HalfSpreadSlippage,
    PerPairFee,
    ProportionalFee,
    ProportionalSlippage,
    SquareRootImpact,
    VirtualMarginExecutor,
    VirtualSpotExecutor,
)
from signalflow.strategy.broker.slippage import past_volatility
from signalflow.strategy.model import ModelEntryRule, ModelExitRule, StrategyAction, StrategyDecision
from signalflow.strategy.runner import BacktestRunner

BUY, SELL = OrderSide.BUY, OrderSide.SELL


def _enter(pair="A", direction="long", m=1.0):
    return StrategyDecision(action=StrategyAction.ENTER, pair=pair, size_multiplier=m, meta={"direction": direction})


def _close_all(pair="A"):
    return StrategyDecision(action=StrategyAction.CLOSE_ALL, pair=pair)


def _runner(model, executor, *, base=0.5, fill_at="close"):
    return BacktestRunner(
        strategy_id="costs",
        broker=BacktestBroker(executor=executor),
        entry_rules=[ModelEntryRule(model=model, base_position_size=base, max_positions=5, allow_shorts=True)],
        exit_rules=[ModelExitRule(model=model)],
        initial_capital=10_000.0,
        fill_at=fill_at,
    )


def _with(frame: pl.DataFrame, **columns) -> pl.DataFrame:
    """`frame` (one pair) with per-bar values for `columns` (lists in bar order)."""
    return frame.with_columns(**{name: pl.Series(name, values, dtype=pl.Float64) for name, values in columns.items()})


# ----------------------------------------------------------------------------- fee models


def test_proportional_fee_is_a_share_of_the_notional_with_a_minimum():
    assert ProportionalFee(0.001).fee("A", 2.0, 50.0) == pytest.approx(0.1, rel=1e-15)
    assert ProportionalFee(0.0075).fee("A", 3.0, 1_000.0) == pytest.approx(22.5, rel=1e-15)
    assert ProportionalFee(0.001, minimum=1.0).fee("A", 2.0, 50.0) == 1.0  # 0.1 < 1: the minimum
    assert ProportionalFee(0.001, minimum=1.0).fee("A", 20.0, 100.0) == pytest.approx(2.0, rel=1e-15)
    assert ProportionalFee().rate == 0.001 and ProportionalFee().minimum == 0.0


def test_fixed_fee_is_the_amount_whatever_the_size():
    fee = FixedFee(2.5)
    assert [fee.fee("A", q, p) for q, p in [(1e-6, 1.0), (1.0, 100.0), (1e6, 1e4)]] == [2.5, 2.5, 2.5]


def _cost(model, pair, n, margin_rate, price=37.0):
    """Cash an entry of notional n needs: its margin share plus its own fee."""
    return n * margin_rate + model.fee(pair, n / price, price)


FEE_MODELS = [
    ProportionalFee(0.0), ProportionalFee(0.001), ProportionalFee(0.0075), ProportionalFee(0.001, minimum=1.0),
    ProportionalFee(0.001, minimum=25.0), FixedFee(0.0), FixedFee(1.0), FixedFee(10.0),
]


@pytest.mark.parametrize("model", FEE_MODELS, ids=repr)
@pytest.mark.parametrize("margin_rate", [1.0, 0.5, 0.2, 0.01])
@pytest.mark.parametrize("budget", [30.0, 1_000.0, 10_000.0, 1e7])
def test_max_notional_fits_the_budget_with_its_fee_and_is_maximal(model, margin_rate, budget):
    n = model.max_notional("A", budget, margin_rate)
    assert n > 0.0
    assert _cost(model, "A", n, margin_rate) <= budget
    bigger = n * (1 + 1e-9)
    assert _cost(model, "A", bigger, margin_rate) > budget


@pytest.mark.parametrize("model", [ProportionalFee(0.001, minimum=25.0), FixedFee(10.0)], ids=repr)
def test_max_notional_is_not_positive_when_the_budget_cannot_pay_the_fee(model):
    assert model.max_notional("A", 5.0, 1.0) <= 0.0


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    rate=st.sampled_from([0.0, 0.0001, 0.001, 0.0075, 0.05]),
    minimum=st.one_of(st.just(0.0), st.floats(0.01, 100.0)),
    amount=st.floats(0.0, 100.0),
    budget=st.floats(1.0, 1e8),
    leverage=st.floats(1.0, 100.0),
    price=st.floats(0.01, 1e5),
)
def test_max_notional_property_every_fee_model(rate, minimum, amount, budget, leverage, price):
    margin_rate = 1.0 / leverage
    for model in (ProportionalFee(rate, minimum), FixedFee(amount)):
        n = model.max_notional("A", budget, margin_rate)
        if n <= 0.0:  # nothing fits: even the smallest fill's fee exceeds the budget
            assert model.fee("A", 1e-12 / price, price) >= budget * (1 - 1e-9)
            continue
        assert _cost(model, "A", n, margin_rate, price) <= budget
        assert _cost(model, "A", n * (1 + 1e-9), margin_rate, price) > budget


def test_per_pair_fee_dispatches_by_pair_for_fee_and_max_notional():
    fee = PerPairFee(ProportionalFee(0.001), {"BTC": FixedFee(2.0), "ETH": ProportionalFee(0.01, minimum=5.0)})
    assert fee.fee("BTC", 10.0, 100.0) == 2.0
    assert fee.fee("ETH", 10.0, 100.0) == pytest.approx(10.0, rel=1e-15)
    assert fee.fee("ETH", 1.0, 100.0) == 5.0
    assert fee.fee("SOL", 10.0, 100.0) == pytest.approx(1.0, rel=1e-15)
    assert fee.max_notional("BTC", 1_000.0, 0.5) == pytest.approx((1_000.0 - 2.0) / 0.5, rel=1e-11)
    assert fee.max_notional("SOL", 1_000.0, 1.0) == pytest.approx(1_000.0 / 1.001, rel=1e-11)
    assert fee.model_for("BTC") == FixedFee(2.0) and fee.model_for("XRP") == ProportionalFee(0.001)
    assert PerPairFee().default == ProportionalFee(0.001) and PerPairFee().overrides == {}
    assert PerPairFee(FixedFee(1.0), {"A": FixedFee(2.0)}) == PerPairFee(FixedFee(1.0), {"A": FixedFee(2.0)})


def test_per_pair_fee_in_a_run_charges_each_pair_its_own_model(bars, scripted):
    fee = PerPairFee(ProportionalFee(0.001), {"B": FixedFee(3.0)})
    runner = _runner(scripted({0: [_enter("A", m=0.5), _enter("B", m=0.5)], 1: [_close_all("A"), _close_all("B")]}),
                     VirtualSpotExecutor(fee=fee))
    runner.run(bars({"A": [50.0, 60.0], "B": [20.0, 10.0]}), None)
    # A: 2_500 notional at 50 (50 units) -> fee 2.5; exit 50 * 60 * 0.001 = 3.0. B: 3.0 each way
    got = sorted((f.pair, f.is_entry, f.fee) for f in runner.broker.fills)
    assert got == sorted([("A", True, pytest.approx(2.5)), ("A", False, pytest.approx(3.0)), ("B", True, 3.0), ("B", False, 3.0)])
    assert runner.result.state.portfolio.fees_paid == pytest.approx(11.5, rel=1e-12)


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "build, name",
    [
        (lambda: ProportionalFee(-0.001), "rate"),
        (lambda: ProportionalFee(0.2), "rate"),
        (lambda: ProportionalFee(float("nan")), "rate"),
        (lambda: ProportionalFee(0.001, minimum=-1.0), "minimum"),
        (lambda: ProportionalFee(0.001, minimum=float("inf")), "minimum"),
        (lambda: FixedFee(-1.0), "amount"),
        (lambda: FixedFee(True), "amount"),
        (lambda: PerPairFee(default="0.001"), "default"),
        (lambda: PerPairFee(overrides=[("A", FixedFee(1.0))]), "overrides"),
        (lambda: PerPairFee(overrides={1: FixedFee(1.0)}), "overrides"),
        (lambda: PerPairFee(overrides={"A": 0.001}), "overrides['A']"),
        (lambda: ProportionalSlippage(-0.01), "pct"),
        (lambda: ProportionalSlippage(0.5), "pct"),
        (lambda: HalfSpreadSlippage(spread_bps=-1.0), "spread_bps"),
        (lambda: HalfSpreadSlippage(spread_bps=5_000.0), "spread_bps"),
        (lambda: HalfSpreadSlippage(from_column="yes"), "from_column"),
        (lambda: SquareRootImpact(-1.0), "k"),
        (lambda: SquareRootImpact(1.0, window=1), "window"),
        (lambda: SquareRootImpact(1.0, window=2.5), "window"),
        (lambda: VirtualSpotExecutor(fee_rate=0.5), "fee_rate"),
        (lambda: VirtualSpotExecutor(slippage_pct=-0.1), "slippage_pct"),
        (lambda: VirtualSpotExecutor(fee=0.001), "fee"),
        (lambda: VirtualSpotExecutor(slippage=0.001), "slippage"),
        (lambda: VirtualSpotExecutor(max_volume_participation=0.0), "max_volume_participation"),
        (lambda: VirtualSpotExecutor(max_volume_participation=1.5), "max_volume_participation"),
        (lambda: VirtualSpotExecutor(intrabar_liquidation="yes"), "intrabar_liquidation"),
        (lambda: VirtualSpotExecutor(min_notional=-1.0), "min_notional"),
        (lambda: VirtualMarginExecutor(leverage=0.5), "leverage"),
        (lambda: VirtualMarginExecutor(leverage=1_000.0), "leverage"),
        (lambda: VirtualMarginExecutor(leverage=2.0, maintenance_margin=0.5), "maintenance_margin"),
        (lambda: VirtualMarginExecutor(leverage=2.0, maintenance_margin=-0.1), "maintenance_margin"),
        (lambda: VirtualMarginExecutor(borrow_rate=-0.05), "borrow_rate"),
        (lambda: VirtualMarginExecutor(intrabar_liquidation=1), "intrabar_liquidation"),
    ],
)
def test_validation_errors_name_the_parameter(build, name):
    with pytest.raises(ConfigError, match=f"`{name}`" if not name.startswith("overrides[") else r"`overrides\['A'\]`"):
        build()


@pytest.mark.parametrize(
    "build, words",
    [
        (lambda: HalfSpreadSlippage(), ["spread_bps", "from_column", "exactly one"]),
        (lambda: HalfSpreadSlippage(4.0, from_column=True), ["spread_bps", "from_column", "exactly one"]),
        (lambda: VirtualSpotExecutor(fee_rate=0.001, fee=FixedFee(1.0)), ["fee_rate", "fee"]),
        (lambda: VirtualMarginExecutor(slippage_pct=0.001, slippage=ProportionalSlippage(0.001)), ["slippage_pct", "slippage"]),
    ],
)
def test_conflicting_or_missing_arguments_are_refused_by_name(build, words):
    with pytest.raises(ConfigError) as info:
        build()
    assert all(f"`{w}`" in str(info.value) or w in str(info.value) for w in words)


def test_margin_maintenance_defaults_to_half_the_initial_margin_rate():
    assert VirtualMarginExecutor(leverage=4.0).maintenance_margin == pytest.approx(0.125, rel=1e-15)
    assert VirtualMarginExecutor(leverage=4.0).margin_rate == 0.25


# ----------------------------------------------------------------------------- slippage models


@pytest.mark.parametrize("pct", [0.0, 0.0005, 0.01])
def test_proportional_slippage_price(pct):
    model = ProportionalSlippage(pct)
    assert model.fill_price(BUY, 200.0, 3.0, 0, 0) == 200.0 * (1 + pct)
    assert model.fill_price(SELL, 200.0, 3.0, 0, 0) == 200.0 * (1 - pct)


@pytest.mark.parametrize("bps", [0.0, 4.0, 50.0])
def test_half_spread_slippage_from_bps_price(bps):
    model = HalfSpreadSlippage(spread_bps=bps)
    half = bps / 10_000 / 2  # half of a spread of `bps` basis points of the price
    assert model.fill_price(BUY, 200.0, 3.0, 0, 0) == pytest.approx(200.0 * (1 + half), rel=1e-15)
    assert model.fill_price(SELL, 200.0, 3.0, 0, 0) == pytest.approx(200.0 * (1 - half), rel=1e-15)


def test_half_spread_slippage_from_the_spread_column_in_a_run(bars, scripted):
    frame = _with(bars({"A": [100.0, 110.0, 120.0]}), spread=[0.5, 0.8, 2.0])
    runner = _runner(scripted({0: [_enter()], 2: [_close_all()]}), VirtualSpotExecutor(fee_rate=0.0,
                     slippage=HalfSpreadSlippage(from_column=True)))
    runner.run(frame, None)
    entry, exit_ = runner.broker.fills
    assert (entry.market_price, entry.price) == (100.0, 100.25)  # + half of bar 0's spread 0.5
    assert (exit_.market_price, exit_.price) == (120.0, 119.0)  # - half of bar 2's spread 2.0
    assert entry.qty == pytest.approx(5_000.0 / 100.25, rel=1e-15)
    # slippage paid: (price - market) * qty on the buy, (market - price) * qty on the sell
    paid = (entry.price - entry.market_price) * entry.qty + (exit_.market_price - exit_.price) * exit_.qty
    assert runner.result.state.portfolio.equity == pytest.approx(10_000.0 + entry.qty * 20.0 - paid, rel=1e-12)


def test_half_spread_from_column_without_a_spread_column_is_a_clear_config_error(bars, scripted):
    runner = _runner(scripted({}), VirtualSpotExecutor(slippage=HalfSpreadSlippage(from_column=True)))
    with pytest.raises(ConfigError, match=r"HalfSpreadSlippage\(from_column=True\) needs a `spread` column"):
        runner.run(bars({"A": [100.0, 101.0]}), None)


def test_half_spread_from_column_not_started_says_so():
    with pytest.raises(ConfigError, match="not started"):
        HalfSpreadSlippage(from_column=True).fill_price(BUY, 100.0, 1.0, 0, 0)


def test_an_entry_whose_fill_price_slippage_floors_at_zero_is_rejected_with_a_reason(bars, scripted):
    """Regression: a short sold at a price floored at 0 (a spread of at least twice the price,
    or a square-root impact of at least 100%) raised ZeroDivisionError sizing its quantity."""
    frame = _with(bars({"A": [100.0, 100.0]}), spread=[300.0, 300.0])
    model = scripted({0: [_enter(direction="short", m=0.5), _enter(direction="long", m=0.5)]})
    runner = _runner(model, VirtualSpotExecutor(fee_rate=0.0, slippage=HalfSpreadSlippage(from_column=True)))
    runner.run(frame, None)
    (rejected,) = runner.result.rejected
    assert rejected.is_entry and not rejected.reduced and rejected.reason.startswith("fill price 0 after slippage")
    (fill,) = runner.broker.fills  # the long (0.5 * 0.5 of 10_000) fills at 100 + 150
    assert fill.price == 250.0 and fill.qty == pytest.approx(2_500.0 / 250.0, rel=1e-15)


def _market(closes, volumes=None, pair="A"):
    n = len(closes)
    frame = pl.DataFrame({
        "pair": [pair] * n,
        "timestamp": pl.datetime_range(pl.datetime(2024, 1, 1), pl.datetime(2024, 1, 1) + pl.duration(minutes=n - 1),
                                       "1m", eager=True),
        "open": closes, "high": closes, "low": closes, "close": closes,
        "volume": volumes if volumes is not None else [1_000.0] * n,
    })
    return MarketData.build(frame)


def _stdev_of_past_returns(closes, t, window):
    rets = [math.log(b / a) for a, b in zip(closes[:t], closes[1:t])][-window:]
    return statistics.stdev(rets) if len(rets) >= 2 else 0.0


CLOSES = [100.0, 104.0, 98.0, 500.0, 120.0, 121.0, 119.0, 130.0, 90.0, 95.0]


@pytest.mark.parametrize("window", [2, 3, 20])
def test_past_volatility_is_the_std_of_the_returns_before_each_bar(window):
    vol = past_volatility(_market(CLOSES), window)[:, 0]
    expected = [_stdev_of_past_returns(CLOSES, t, window) for t in range(len(CLOSES))]
    assert vol.tolist() == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert vol[0] == vol[1] == vol[2] == 0.0  # fewer than two returns before bar 2


@pytest.mark.parametrize("changed", [3, 6, 9])
def test_past_volatility_uses_only_past_bars(changed):
    before = past_volatility(_market(CLOSES), 3)[:, 0]
    closes = list(CLOSES)
    closes[changed] *= 3.0  # a future close changes ...
    after = past_volatility(_market(closes), 3)[:, 0]
    assert after[: changed + 1].tolist() == before[: changed + 1].tolist()  # ... nothing at or before its bar
    if changed + 1 < len(closes):
        assert after[changed + 1] != before[changed + 1]  # (and the next bar does see it)


def test_past_volatility_follows_each_pair_own_bars_and_is_nan_without_a_bar(bars):
    frame = bars({"A": [100.0, 110.0, 90.0, 95.0, 97.0], "B": [10.0, None, 12.0, None, 9.0]})
    vol = past_volatility(MarketData.build(frame), 5)
    assert vol[:, 0].tolist() == pytest.approx([_stdev_of_past_returns([100.0, 110.0, 90.0, 95.0, 97.0], t, 5) for t in range(5)])
    b = vol[:, 1].tolist()
    assert math.isnan(b[1]) and math.isnan(b[3])
    # B's own bars are 10, 12, 9 (bars 0, 2, 4): before its third bar only one return (10 -> 12) has
    # ended, so 0.0 throughout; on a common axis (bars 0..4) bar 4 would already see two
    assert b[0] == b[2] == b[4] == 0.0


def test_square_root_impact_price_from_past_volatility_and_bar_volume():
    volumes = [1_000.0] * 6 + [0.0] + [1_000.0] * 3
    market = _market(CLOSES, volumes)
    model = SquareRootImpact(0.5, window=3)
    model.start(market)
    sigma = _stdev_of_past_returns(CLOSES, 5, 3)
    assert sigma > 0.0
    impact = 0.5 * sigma * math.sqrt(40.0 / 1_000.0)
    assert model.fill_price(BUY, 121.0, 40.0, 5, 0) == pytest.approx(121.0 * (1 + impact), rel=1e-12)
    assert model.fill_price(SELL, 121.0, 40.0, 5, 0) == pytest.approx(121.0 * (1 - impact), rel=1e-12)
    # a sell whose impact exceeds 100% is floored at 0
    assert model.fill_price(SELL, 121.0, 1e9, 5, 0) == 0.0
    # no volume: cannot price, with the reason
    assert model.fill_price(BUY, 119.0, 40.0, 6, 0) is None
    assert "volume is 0" in model.no_fill_reason(6, 0)


def test_square_root_impact_not_started_says_so():
    with pytest.raises(ConfigError, match="not started"):
        SquareRootImpact().fill_price(BUY, 100.0, 1.0, 0, 0)


def test_square_root_impact_rejects_an_entry_on_a_zero_volume_bar_in_a_run(bars, scripted):
    frame = _with(bars({"A": [100.0, 100.0]}), volume=[0.0, 5.0])
    runner = _runner(scripted({0: [_enter()]}), VirtualSpotExecutor(slippage=SquareRootImpact()))
    runner.run(frame, None)
    assert not runner.broker.fills
    assert [r.reason for r in runner.result.rejected] == ["bar volume is 0: the square-root impact model cannot price a fill"]


def test_square_root_impact_prices_an_entry_reduced_to_the_free_cash_at_its_reduced_size(bars, scripted):
    closes = [100.0, 101.0, 99.0, 102.0, 100.0, 103.0, 101.0]
    frame = _with(bars({"A": closes}), volume=[1_000.0] * 7)
    model = SquareRootImpact(1.0, window=3)
    runner = _runner(scripted({5: [_enter(m=10.0)]}), VirtualSpotExecutor(fee_rate=0.0, slippage=model), base=1.0)
    runner.run(frame, None)
    (fill,) = runner.broker.fills
    assert runner.summary["orders_reduced"] == 1
    # asked 10x the equity; reduced to the free cash (10,000), priced at what that buys at the bar price
    sigma = _stdev_of_past_returns(closes, 5, 3)
    assert fill.price == pytest.approx(103.0 * (1 + sigma * math.sqrt(10_000.0 / 103.0 / 1_000.0)), rel=1e-12)
    assert fill.qty * fill.price == pytest.approx(10_000.0, rel=1e-12)


# ----------------------------------------------------------------------------- volume cap


def test_volume_cap_reduces_an_oversized_entry_and_counts_it(bars, scripted):
    frame = _with(bars({"A": [100.0, 100.0]}), volume=[20.0, 20.0])
    runner = _runner(scripted({0: [_enter(m=1.0)]}), VirtualSpotExecutor(fee_rate=0.001, max_volume_participation=0.1))
    runner.run(frame, None)
    (fill,) = runner.broker.fills
    # asked 5_000 (50 units); the cap is 10% of the bar's 20 units: 2 units
    assert fill.qty == pytest.approx(2.0, rel=1e-12) and fill.price == 100.0
    assert fill.fee == pytest.approx(0.2, rel=1e-12)
    assert runner.summary["orders_reduced"] == 1 and runner.summary["orders_rejected"] == 0
    (reduced,) = runner.result.rejected
    assert reduced.reduced is True and "max_volume_participation=0.1" in reduced.reason


def test_volume_cap_applies_to_the_quantity_at_the_fill_price_after_slippage(bars, scripted):
    frame = _with(bars({"A": [100.0]}), volume=[20.0])
    ex = VirtualSpotExecutor(fee_rate=0.0, slippage_pct=0.01, max_volume_participation=0.1)
    runner = _runner(scripted({0: [_enter(direction="short")]}), ex)
    runner.run(frame, None)
    (fill,) = runner.broker.fills
    assert fill.price == pytest.approx(99.0, rel=1e-15) and fill.qty == pytest.approx(2.0, rel=1e-12)


def test_an_entry_within_the_cap_is_not_reduced(bars, scripted):
    frame = _with(bars({"A": [100.0]}), volume=[1_000.0])
    runner = _runner(scripted({0: [_enter(m=0.1)]}), VirtualSpotExecutor(fee_rate=0.0, max_volume_participation=0.1))
    runner.run(frame, None)
    assert runner.broker.fills[0].qty == pytest.approx(5.0, rel=1e-12)  # 500 notional: 5 <= 100 units
    assert runner.summary["orders_reduced"] == 0 and not runner.result.rejected


def test_volume_cap_rejects_entries_and_exits_on_a_zero_volume_bar_with_a_reason(bars, scripted):
    frame = _with(bars({"A": [100.0, 100.0, 100.0, 100.0]}), volume=[0.0, 50.0, 0.0, 50.0])
    model = scripted({0: [_enter(m=0.1)], 1: [_enter(m=0.1)], 2: [_close_all()], 3: [_close_all()]})
    runner = _runner(model, VirtualSpotExecutor(fee_rate=0.0, max_volume_participation=0.5))
    runner.run(frame, None)
    reasons = [(r.bar, r.is_entry, r.reduced, r.reason) for r in runner.result.rejected]
    assert reasons == [
        (0, True, False, "bar volume is 0: no fill with max_volume_participation=0.5"),
        (2, False, False, "bar volume is 0: no fill with max_volume_participation=0.5"),
    ]
    assert [(f.bar, f.is_entry) for f in runner.broker.fills] == [(1, True), (3, False)]
    assert runner.summary["orders_rejected"] == 2 and runner.summary["orders_reduced"] == 0


# ----------------------------------------------------------------------------- the default spot executor


def test_default_spot_executor_is_a_proportional_fee_of_10_bps_without_slippage_cap_or_intrabar():
    for ex in (VirtualSpotExecutor(), VirtualSpotExecutor(fee_rate=0.001)):
        assert ex.fee_model == ProportionalFee(0.001) and ex.fee_rate == 0.001
        assert ex.slippage_model == ProportionalSlippage(0.0) and ex.slippage_pct == 0.0
        assert ex.max_volume_participation is None and ex.intrabar_liquidation is False
        assert ex.is_margin is False and ex.margin_rate == 1.0
    assert BacktestBroker().executor.fee_model == ProportionalFee(0.001)


def test_default_spot_executor_run_hand_computed_long_and_short(bars, scripted):
    model = scripted({0: [_enter("A", "long"), _enter("B", "short", m=0.4)], 2: [_close_all("A"), _close_all("B")]})
    runner = _runner(model, VirtualSpotExecutor(fee_rate=0.001))
    runner.run(bars({"A": [50.0, 60.0, 55.0], "B": [20.0, 25.0, 30.0]}), None)
    # bar 0: long A 5_000 at 50 (100 units, fee 5); short B 2_000 at 20 (100 units, fee 2), collateral 2_000
    #        cash 10_000 - 5_005 - 2_002 = 2_993
    # bar 1: A 100 * 60 = 6_000; B collateral + pnl = 2_000 - 500 = 1_500; equity 10_493
    # bar 2: A sold at 55: 5_500 - 5.5; B bought back at 30: 2_000 - 1_000 - 3 -> cash 2_993 + 5_494.5 + 997
    assert runner.metrics_df["equity"].to_list() == pytest.approx([9_993.0, 10_493.0, 9_484.5], rel=1e-12)
    assert runner.result.state.portfolio.cash == pytest.approx(9_484.5, rel=1e-12)
    for f in runner.broker.fills:
        assert f.market_price == f.price and f.margin is None
        assert f.fee == pytest.approx(0.001 * f.qty * f.price, rel=1e-15)
    s = runner.summary
    assert (s["liquidations"], s["liquidation_shortfall"], s["borrow_paid"]) == (0.0, 0.0, 0.0)
    assert runner.metrics_df["borrow_paid"].to_list() == [0.0, 0.0, 0.0]


def test_numpy_scalars_are_accepted_and_stored_as_floats_bools_refused():
    import numpy as np

    from signalflow.strategy.broker import FixedFee, ProportionalFee, ProportionalSlippage, VirtualMarginExecutor

    fee = ProportionalFee(np.float32(0.002), np.int64(1))
    assert type(fee.rate) is float and type(fee.minimum) is float and type(fee.fee("X", 1.0, 1000.0)) is float
    assert type(FixedFee(np.int64(2)).amount) is float and type(ProportionalSlippage(np.float32(0.001)).pct) is float
    ex = VirtualMarginExecutor(np.float64(0.001), leverage=np.int64(3), borrow_rate=np.float32(0.1))
    assert ex.leverage == 3.0 and ex.fee_rate == pytest.approx(0.001)
    for bad in ({"leverage": True}, {"borrow_rate": False}):
        with pytest.raises(ConfigError, match=f"`{next(iter(bad))}` must be"):
            VirtualMarginExecutor(**bad)
    with pytest.raises(ConfigError, match="`rate` must be a finite number >= 0"):
        ProportionalFee(True)


@pytest.mark.parametrize("executor, what", [
    (lambda: VirtualSpotExecutor(slippage=SquareRootImpact(1.0)), r"SquareRootImpact\(k=1\.0, window=20\)"),
    (lambda: VirtualSpotExecutor(max_volume_participation=0.1), r"max_volume_participation=0\.1"),
])
def test_a_volume_cost_model_refuses_bars_without_any_volume_instead_of_never_filling(executor, what):
    from datetime import datetime, timedelta

    t0 = datetime(2024, 1, 1)
    bars = pl.DataFrame({"pair": ["A"] * 4, "timestamp": [t0 + timedelta(minutes=i) for i in range(4)],
                         "open": [10.0] * 4, "high": [10.0] * 4, "low": [10.0] * 4, "close": [10.0] * 4})  # no volume
    signals = pl.DataFrame({"pair": ["A"], "timestamp": [t0], "signal_type": ["rise"], "probability": [0.9]})

    class Enters:
        def decide(self, context):
            return [StrategyDecision(action=StrategyAction.ENTER, pair="A")] if context.bar_index == 0 else []

    def runner(ex):
        return BacktestRunner(strategy_id="v", broker=BacktestBroker(executor=ex),
                              entry_rules=[ModelEntryRule(model=Enters(), base_position_size=0.1)], exit_rules=[],
                              initial_capital=1000.0)

    with pytest.raises(ConfigError, match=rf"^{what} needs bar volumes, but every bar has volume 0 \(bars without a "
                                          r"`volume` column get 0\), so no order could ever fill"):
        runner(executor()).run(bars, signals)
    plain = runner(VirtualSpotExecutor(fee_rate=0.001))  # a model without volumes still trades
    plain.run(bars, signals)
    assert plain.summary["n_trades"] == 1
    with_volume = runner(executor())
    with_volume.run(bars.with_columns(volume=pl.lit(1e6)), signals)
    assert with_volume.summary["n_trades"] == 1
