"""Property tests of the accounting invariants over random markets and random decision streams.

Examples: the Hypothesis profile's (tests/conftest.py, env var HYPOTHESIS_PROFILE: "dev" or "ci").
Every bar is driven through the stepped API (`begin_bar()` / `end_bar()`) and the
invariants are checked after every bar:

- equity == cash + marked value of open positions;
- initial capital + realised PnL + unrealised PnL - fees == equity;
- no position is closed twice (one exit fill per closed position, none for open ones);
- cash never negative (spot: no leverage; shorts lock collateral);
- every fill pays fee == fee_rate * qty * price >= 0, and fees add up.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import datetime, timedelta

import polars as pl
from hypothesis import event, given
from hypothesis import strategies as st

from signalflow.strategy.broker import BacktestBroker
from signalflow.strategy.broker.executor import VirtualSpotExecutor
from signalflow.strategy.component.exit import TakeProfitStopLossExit
from signalflow.strategy.model import ModelEntryRule, ModelExitRule, StrategyAction, StrategyDecision
from signalflow.strategy.runner import BacktestRunner


T0 = datetime(2024, 1, 1)
REL = 1e-9
INITIAL = 10_000.0


# ----------------------------------------------------------------------------- strategies


@st.composite
def markets(draw):
    """Hand-built OHLCV for 1-3 pairs with positive prices; some pairs miss some bars."""
    n_pairs = draw(st.integers(1, 3))
    n_bars = draw(st.integers(2, 24))
    pairs = [f"P{i}" for i in range(n_pairs)]
    rows = []
    present: dict[str, list[int]] = {}
    for pair in pairs:
        price = draw(st.floats(1.0, 1000.0))
        mask = draw(st.lists(st.booleans(), min_size=n_bars, max_size=n_bars))
        mask[draw(st.integers(0, n_bars - 1))] = True  # every pair has at least one bar
        if pair == pairs[0]:
            mask = [True] * n_bars  # keep the axis n_bars long; other pairs may have gaps
        present[pair] = [i for i, m in enumerate(mask) if m]
        for i, m in enumerate(mask):
            ret = draw(st.floats(-0.2, 0.2))
            gap = draw(st.floats(-0.02, 0.02))
            wick_hi, wick_lo = draw(st.floats(0.0, 0.05)), draw(st.floats(0.0, 0.05))
            open_ = price * math.exp(gap)
            close = open_ * math.exp(ret)
            price = close
            if not m:
                continue
            rows.append({
                "pair": pair, "timestamp": T0 + timedelta(minutes=i), "open": open_,
                "high": max(open_, close) * (1 + wick_hi), "low": min(open_, close) * (1 - wick_lo),
                "close": close, "volume": 1.0,
            })
    raw = pl.DataFrame(rows).with_columns(pl.col("timestamp").cast(pl.Datetime("us")))
    sig_rows = []
    for pair in pairs:
        for i in present[pair]:
            if draw(st.integers(0, 3)) == 0:
                sig_rows.append({
                    "pair": pair, "timestamp": T0 + timedelta(minutes=i),
                    "signal_type": draw(st.sampled_from(["rise", "fall", "none"])),
                    "probability": draw(st.floats(0.0, 1.0)),
                })
    signals = pl.DataFrame(sig_rows).with_columns(pl.col("timestamp").cast(pl.Datetime("us"))) if sig_rows else None
    return raw, signals, pairs


configs = st.fixed_dictionaries({
    "allow_shorts": st.booleans(),
    "fill_at": st.sampled_from(["close", "next_open"]),
    "tp_sl": st.one_of(st.none(), st.tuples(st.floats(0.005, 0.2), st.floats(0.005, 0.2), st.booleans())),
    "fee_rate": st.sampled_from([0.0, 0.001, 0.0075]),
    "slippage_pct": st.sampled_from([0.0, 0.0005, 0.01]),
    "base_position_size": st.floats(0.01, 1.0),
    "max_positions": st.integers(1, 6),
    "min_confidence": st.sampled_from([0.0, 0.3]),
    "seed": st.integers(0, 2**32 - 1),
})


class RandomModel:
    """Random ENTER / SKIP / CLOSE (existing, closed or bogus ids) / CLOSE_ALL / HOLD decisions."""

    ACTIONS = [StrategyAction.ENTER, StrategyAction.CLOSE, StrategyAction.CLOSE_ALL,
               StrategyAction.HOLD, StrategyAction.SKIP]

    def __init__(self, seed: int, pairs: list[str]) -> None:
        self.rng = random.Random(seed)
        self.pairs = pairs
        self.seen_ids: list[str] = []

    def decide(self, context):
        rng = self.rng
        for p in context.positions:
            if p.id not in self.seen_ids:
                self.seen_ids.append(p.id)
        out = []
        for _ in range(rng.randint(0, 4)):
            action = rng.choice(self.ACTIONS)
            pair = rng.choice(self.pairs) if rng.random() < 0.9 else "BOGUS"
            kw = dict(size_multiplier=rng.uniform(0.05, 10.0), confidence=rng.random())
            if action is StrategyAction.CLOSE:
                choices = [p.id for p in context.positions] + self.seen_ids + ["pos_bogus"]
                pid = rng.choice(choices)
                pos = next((p for p in context.positions if p.id == pid), None)
                pair = pos.pair if pos is not None and rng.random() < 0.8 else pair
                out.append(StrategyDecision(action=action, pair=pair, position_id=pid, **kw))
            elif action is StrategyAction.HOLD:
                out.append(StrategyDecision(action=action, **kw))
            else:
                meta = {}
                if action is StrategyAction.ENTER and rng.random() < 0.5:
                    meta["direction"] = rng.choice(["long", "short"])
                out.append(StrategyDecision(action=action, pair=pair, meta=meta, **kw))
        return out


def _runner(cfg, model) -> BacktestRunner:
    exits = [ModelExitRule(model=model, min_confidence=cfg["min_confidence"])]
    if cfg["tp_sl"] is not None:
        tp, sl, intrabar = cfg["tp_sl"]
        exits.append(TakeProfitStopLossExit(take_profit_pct=tp, stop_loss_pct=sl, intrabar=intrabar))
    return BacktestRunner(
        strategy_id="prop",
        broker=BacktestBroker(executor=VirtualSpotExecutor(fee_rate=cfg["fee_rate"], slippage_pct=cfg["slippage_pct"])),
        entry_rules=[ModelEntryRule(model=model, base_position_size=cfg["base_position_size"],
                                    max_positions=cfg["max_positions"], min_confidence=cfg["min_confidence"],
                                    allow_shorts=cfg["allow_shorts"])],
        exit_rules=exits,
        initial_capital=INITIAL,
        fill_at=cfg["fill_at"],
    )


def _check_rebuilt_from_fills(run, cfg) -> None:
    """Equity rebuilt from the fills and the market alone (not from Portfolio/Position arithmetic)."""
    fills = run.broker.fills
    entries = {f.position_id: f for f in fills if f.is_entry}
    cash = INITIAL
    closed = set()
    for f in fills:
        if f.is_entry:
            cash -= f.qty * f.price + f.fee
        else:
            e = entries[f.position_id]
            gross = f.qty * f.price if e.position_type.value == "long" else f.qty * (2.0 * e.price - f.price)
            cash += gross - f.fee
            closed.add(f.position_id)
    t = run.bar
    post_trade = run.context is None
    value = 0.0
    for pid, e in entries.items():
        if pid in closed:
            continue
        if cfg["fill_at"] == "close" and post_trade and e.bar == t:
            price = e.price  # entered at this close: not marked until the next bar
        else:
            price = float(run.market.mark[t, run.market.pair_index[e.pair]])
        value += e.qty * price if e.position_type.value == "long" else e.qty * (2.0 * e.price - price)
    pf = run.state.portfolio
    assert math.isclose(pf.cash, cash, rel_tol=REL, abs_tol=1e-7), (pf.cash, cash)
    assert math.isclose(pf.equity, cash + value, rel_tol=REL, abs_tol=1e-7), (pf.equity, cash + value)
    assert math.isclose(pf.fees_paid, sum(f.fee for f in fills), rel_tol=REL, abs_tol=1e-9)


def _check_bar(run, cfg) -> None:
    state, broker = run.state, run.broker
    pf = state.portfolio
    open_ = pf.open_positions()
    marked = sum(p.market_value for p in open_)
    unrealized = sum(p.unrealized_pnl for p in open_)
    equity = pf.equity
    assert math.isclose(equity, pf.cash + marked, rel_tol=REL, abs_tol=1e-9)
    assert math.isclose(state.metrics["equity"], equity, rel_tol=REL, abs_tol=1e-9)
    assert math.isclose(INITIAL + pf.realized_pnl + unrealized - pf.fees_paid, equity, rel_tol=REL, abs_tol=1e-7)
    assert pf.cash >= -1e-9 * INITIAL
    if not cfg["allow_shorts"]:
        assert all(p.position_type.value == "long" for p in pf.positions.values())
    _check_rebuilt_from_fills(run, cfg)
    exits = Counter(f.position_id for f in broker.fills if not f.is_entry)
    entries = Counter(f.position_id for f in broker.fills if f.is_entry)
    assert all(n == 1 for n in exits.values()), exits
    assert all(n == 1 for n in entries.values()), entries
    for pid, pos in pf.positions.items():
        assert exits.get(pid, 0) == (1 if pos.is_closed else 0)
    fee_rate = cfg["fee_rate"]
    for f in broker.fills:
        assert f.fee >= 0.0
        assert math.isclose(f.fee, fee_rate * f.qty * f.price, rel_tol=1e-12, abs_tol=1e-15)
    assert math.isclose(sum(f.fee for f in broker.fills), pf.fees_paid, rel_tol=1e-9, abs_tol=1e-12)
    closed_pnl = sum(p.realized_pnl for p in pf.positions.values() if p.is_closed)
    assert math.isclose(closed_pnl, pf.realized_pnl, rel_tol=1e-9, abs_tol=1e-7)


# ----------------------------------------------------------------------------- properties


@given(market=markets(), cfg=configs)
def test_invariants_random_decisions_hold_after_every_bar(market, cfg):
    raw, signals, pairs = market
    model = RandomModel(cfg["seed"], pairs)
    run = _runner(cfg, model).start(raw, signals)
    n_bars = 0
    while run.begin_bar() is not None:
        _check_bar(run, cfg)  # pre-trade: after pending fills and marking
        run.end_bar()
        _check_bar(run, cfg)
        n_bars += 1
    result = run.finish()
    fills = run.broker.fills
    event(f"exit fills: {'0' if not any(not f.is_entry for f in fills) else '>0'}")
    event(f"shorts opened: {any(p.position_type.value == 'short' for p in run.state.portfolio.positions.values())}")
    event(f"orders reduced: {run.state.log.orders_reduced > 0}")
    assert n_bars == raw["timestamp"].n_unique() == result.metrics_df.height
    assert result.trades_df.height == len(run.state.portfolio.positions)
    assert result.summary["orders_unfilled"] == len(result.pending_orders)
    assert result.metrics_df["equity"][-1] == run.state.portfolio.equity


@given(market=markets(), cfg=configs)
def test_invariants_metrics_df_rows_match_accounting_identity(market, cfg):
    raw, signals, pairs = market
    runner = _runner(cfg, RandomModel(cfg["seed"], pairs))
    runner.run(raw, signals)
    m = runner.metrics_df
    lhs = INITIAL + m["realized_pnl"] + m["unrealized_pnl"] - m["fees_paid"]
    for a, b in zip(lhs.to_list(), m["equity"].to_list()):
        assert math.isclose(a, b, rel_tol=REL, abs_tol=1e-7)
    for eq, cash, pv in m.select("equity", "cash", "positions_value").rows():
        assert math.isclose(eq, cash + pv, rel_tol=REL, abs_tol=1e-9)
    assert (m["cash"] >= -1e-9 * INITIAL).all()
    assert (m["fees_paid"].diff().drop_nulls() >= 0).all()


@given(market=markets(), cfg=configs)
def test_invariants_model_called_once_per_bar_with_current_bar_only(market, cfg):
    raw, signals, pairs = market
    seen: list = []

    class Recording(RandomModel):
        def decide(self, context):
            seen.append(context.timestamp)
            sig_ts = context.signals.value["timestamp"].unique().to_list()
            assert all(t == context.timestamp for t in sig_ts)
            assert all(p.entry_time <= context.timestamp and p.last_time <= context.timestamp for p in context.positions)
            return super().decide(context)

    runner = _runner(cfg, Recording(cfg["seed"], pairs))
    runner.run(raw, signals)
    assert seen == runner.metrics_df["timestamp"].to_list()


@given(market=markets(), cfg=configs)
def test_invariants_drawdowns_follow_the_recorded_equity_and_peak(market, cfg):
    # max_drawdown is the running maximum of the recorded current_drawdown: no pre-trade state
    # that never existed (a position an intrabar stop closed, marked to the close) leaves a deeper
    # one. Pre-trade states do count, and one can sit an ulp or two below the same bar's recorded
    # equity (summed in another order), hence the tolerance.
    raw, signals, pairs = market
    runner = _runner(cfg, RandomModel(cfg["seed"], pairs))
    runner.run(raw, signals)
    top, last_peak, max_dd = INITIAL, INITIAL, 0.0
    for equity, peak, drawdown, row_max_dd in runner.metrics_df.select(
        "equity", "peak_equity", "current_drawdown", "max_drawdown"
    ).rows():
        top = max(top, equity)
        assert peak >= top and peak >= last_peak
        assert drawdown == 1.0 - equity / peak
        max_dd = max(max_dd, drawdown)
        assert max_dd <= row_max_dd <= max_dd + 1e-12
        max_dd, last_peak = row_max_dd, peak
