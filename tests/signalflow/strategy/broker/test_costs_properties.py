"""Property tests of the cost and risk models (fees, slippage, volume cap, borrow, liquidation)
over random price paths with 5x moves and gaps, irregular bar spacing, random decision streams,
both fill timings, spot and margin accounts and every fee and slippage model.

Every bar is driven through the stepped API and an independent ledger is rebuilt from the bars
and the fills alone (no Portfolio / Position / executor arithmetic is reused), checked after the
pre-trade part of the bar (pending fills at the open, marking, borrow, liquidations) and after
its post-trade part (rules' fills):

- equity identity: initial + realised + unrealised - fees - borrow + liquidation_shortfall ==
  equity, to 1e-9 relative to the run's scale (initial capital + traded notional);
- equity is never below zero; once a shortfall is written off the account holds nothing and
  its equity is exactly 0;
- liquidations happen on the first bar the requirement is breached at the mark (or, with
  `intrabar_liquidation`, inside the bar) and never earlier, at the price the rules give;
- every fill's fee, fill price (slippage), margin and market price equal an independent
  recomputation; borrow equals ``borrow_rate * dt_years * (short qty * mark + leveraged-long
  borrowed cash)`` per bar for the positions opened before it (dt from the bars' timestamps,
  365-day year);
- the volume cap is respected and nothing fills on a zero-volume bar with a cap.

Examples: three times the Hypothesis profile's (tests/conftest.py, env var HYPOTHESIS_PROFILE).
"""

from __future__ import annotations

import math
import random
import statistics
from datetime import datetime, timedelta

import polars as pl
import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from signalflow.core.errors import ConfigError
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
from signalflow.strategy.component.base import EntryRule
from signalflow.strategy.component.exit import TakeProfitStopLossExit
from signalflow.strategy.model import ModelEntryRule, ModelExitRule, StrategyAction, StrategyDecision
from signalflow.strategy.runner import BacktestRunner

#: Examples are cheap (a few bars each): three times the loaded profile's count (tests/conftest.py).
EXAMPLES = 3 * settings.default.max_examples

T0 = datetime(2024, 1, 1)
INITIAL = 10_000.0
YEAR_SECONDS = 365.0 * 24 * 3600
LIQ = "liquidation"
LOG5 = math.log(5.0)

# ----------------------------------------------------------------------------- the market


class Bars:
    """The bars as plain per-bar lists (what the independent ledger reads)."""

    def __init__(self, pairs, seconds, rows):
        self.pairs = pairs
        self.col = {p: j for j, p in enumerate(pairs)}
        self.seconds = seconds  # bar i's timestamp, seconds after T0
        self.rows = rows  # rows[i][j]: dict(open, high, low, close, volume, spread) or None
        self.n = len(seconds)
        self.mark = []  # last close at or before i, per pair (None before the pair's first bar)
        last = [None] * len(pairs)
        for i in range(self.n):
            for j in range(len(pairs)):
                if rows[i][j] is not None:
                    last[j] = rows[i][j]["close"]
            self.mark.append(list(last))

    def bar(self, i, pair):
        return self.rows[i][self.col[pair]]

    def __repr__(self) -> str:
        def one(r):
            if r is None:
                return "-"
            return "({open:.6g}, {high:.6g}, {low:.6g}, {close:.6g}, v={volume:g}, s={spread:.3g})".format(**r)
        lines = [f"  t={s}s: " + " | ".join(one(r) for r in row) for s, row in zip(self.seconds, self.rows)]
        return f"Bars(pairs={self.pairs}\n" + "\n".join(lines) + ")"

    def past_volatility(self, i, pair, window):
        """Sample std of the pair's log close-to-close returns over its last `window` returns
        ending at its bars before bar i (0.0 with fewer than two)."""
        j = self.col[pair]
        closes = [self.rows[k][j]["close"] for k in range(i) if self.rows[k][j] is not None]
        rets = [math.log(b / a) for a, b in zip(closes, closes[1:])][-window:]
        return statistics.stdev(rets) if len(rets) >= 2 else 0.0

    def frame(self) -> pl.DataFrame:
        out = []
        for i in range(self.n):
            for j, pair in enumerate(self.pairs):
                r = self.rows[i][j]
                if r is not None:
                    out.append({"pair": pair, "timestamp": T0 + timedelta(seconds=self.seconds[i]), **r})
        return pl.DataFrame(out).with_columns(pl.col("timestamp").cast(pl.Datetime("us")))


big_moves = st.sampled_from([LOG5, -LOG5, math.log(3.0), -math.log(2.5)])
moves = st.one_of(st.floats(-0.15, 0.15), big_moves)
gaps = st.one_of(st.just(0.0), st.floats(-0.03, 0.03), big_moves)


@st.composite
def markets(draw) -> Bars:
    """1-2 pairs, 3-14 bars, irregular spacing (seconds to a week), moves and gaps up to 5x,
    volumes from 0 to 1e9 (zero-volume bars included) and a `spread` column."""
    n_pairs = draw(st.integers(1, 2))
    n_bars = draw(st.integers(3, 14))
    steps = draw(st.lists(st.sampled_from([17, 60, 3_600, 86_400, 7 * 86_400]), min_size=n_bars - 1, max_size=n_bars - 1))
    seconds = [0]
    for s in steps:
        seconds.append(seconds[-1] + s)
    pairs = [f"P{j}" for j in range(n_pairs)]
    rows = [[None] * n_pairs for _ in range(n_bars)]
    for j in range(n_pairs):
        price = draw(st.floats(1.0, 1000.0))
        present = [True] * n_bars if j == 0 else draw(st.lists(st.booleans(), min_size=n_bars, max_size=n_bars))
        for i in range(n_bars):
            open_ = price * math.exp(draw(gaps))
            close = open_ * math.exp(draw(moves))
            price = close
            wick_hi, wick_lo = draw(st.sampled_from([0.0, 0.01, 0.3])), draw(st.sampled_from([0.0, 0.01, 0.3]))
            volume = draw(st.sampled_from([0.0, 0.5, 50.0, 1e6, 1e9]))
            spread = draw(st.sampled_from([0.0, 0.001, 0.02])) * close
            if present[i]:
                rows[i][j] = {
                    "open": open_, "high": max(open_, close) * (1 + wick_hi), "low": min(open_, close) * (1 - wick_lo),
                    "close": close, "volume": volume, "spread": spread,
                }
    return Bars(pairs, seconds, rows)


# ----------------------------------------------------------------------------- the configuration
# Models are described by plain tuples (readable in a falsifying example) and built per run.

prop_fee = st.tuples(st.just("prop"), st.sampled_from([0.0, 0.001, 0.0075]), st.sampled_from([0.0, 0.0, 1.0, 25.0]))
fixed_fee = st.tuples(st.just("fixed"), st.sampled_from([0.0, 1.0, 10.0]))
fee_descs = st.one_of(prop_fee, fixed_fee, st.tuples(st.just("per_pair"), prop_fee, st.one_of(prop_fee, fixed_fee)))
slippage_descs = st.one_of(
    st.tuples(st.just("prop"), st.sampled_from([0.0, 0.0005, 0.01])),
    st.tuples(st.just("bps"), st.sampled_from([0.0, 4.0, 50.0])),
    st.tuples(st.just("column")),
    st.tuples(st.just("sqrt"), st.sampled_from([0.1, 1.0]), st.sampled_from([2, 5])),
)
configs = st.fixed_dictionaries({
    "account": st.sampled_from(["margin", "spot"]),
    "leverage": st.sampled_from([1.0, 2.0, 5.0, 20.0]),
    "maintenance": st.sampled_from([None, 0.1, 0.9]),  # share of 1 / leverage; None: the default
    "borrow_rate": st.sampled_from([0.0, 0.05, 2.0]),
    "intrabar_liquidation": st.booleans(),
    "fee": fee_descs,
    "slippage": slippage_descs,
    "cap": st.sampled_from([None, None, 0.01, 0.5, 1.0]),
    "fill_at": st.sampled_from(["close", "next_open"]),
    "tp_sl": st.one_of(st.none(), st.tuples(st.floats(0.01, 0.5), st.floats(0.01, 0.5), st.booleans())),
    "base_position_size": st.floats(0.05, 1.0),
    "max_positions": st.integers(1, 4),
    "seed": st.integers(0, 2**32 - 1),
    "script": st.none(),  # the explicit examples below script their decisions
})


def build_fee(desc):
    if desc[0] == "prop":
        return ProportionalFee(desc[1], desc[2])
    if desc[0] == "fixed":
        return FixedFee(desc[1])
    return PerPairFee(build_fee(desc[1]), {"P1": build_fee(desc[2])})


def build_slippage(desc):
    if desc[0] == "prop":
        return ProportionalSlippage(desc[1])
    if desc[0] == "bps":
        return HalfSpreadSlippage(spread_bps=desc[1])
    if desc[0] == "column":
        return HalfSpreadSlippage(from_column=True)
    return SquareRootImpact(desc[1], window=desc[2])


def maintenance_of(cfg) -> float:
    rate = 1.0 / cfg["leverage"]
    return 0.5 * rate if cfg["maintenance"] is None else cfg["maintenance"] * rate


def build_executor(cfg):
    common = dict(
        fee=build_fee(cfg["fee"]), slippage=build_slippage(cfg["slippage"]), max_volume_participation=cfg["cap"],
        intrabar_liquidation=cfg["intrabar_liquidation"],
    )
    if cfg["account"] == "spot":
        return VirtualSpotExecutor(**common)
    mm = None if cfg["maintenance"] is None else maintenance_of(cfg)
    return VirtualMarginExecutor(leverage=cfg["leverage"], maintenance_margin=mm, borrow_rate=cfg["borrow_rate"], **common)


class RandomModel:
    """Random ENTER (long / short, any size) / CLOSE / CLOSE_ALL / HOLD decisions; each ENTER
    carries a unique `tag` in its meta (it reaches the order and the position)."""

    def __init__(self, seed, pairs):
        self.rng = random.Random(seed)
        self.pairs = pairs
        self.tags = 0

    def decide(self, context):
        rng, out = self.rng, []
        for _ in range(rng.randint(0, 3)):
            roll = rng.random()
            if roll < 0.5:
                self.tags += 1
                out.append(StrategyDecision(
                    action=StrategyAction.ENTER, pair=rng.choice(self.pairs), size_multiplier=rng.choice([0.1, 1.0, 3.0, 10.0]),
                    meta={"direction": rng.choice(["long", "short"]), "tag": self.tags},
                ))
            elif roll < 0.75 and context.positions:
                pos = rng.choice(context.positions)
                out.append(StrategyDecision(action=StrategyAction.CLOSE, pair=pos.pair, position_id=pos.id))
            elif roll < 0.85:
                out.append(StrategyDecision(action=StrategyAction.CLOSE_ALL, pair=rng.choice(self.pairs)))
            else:
                out.append(StrategyDecision(action=StrategyAction.HOLD))
        return out


class ScriptModel:
    """Decisions per bar from `script`: ("enter", pair, direction, size_multiplier),
    ("close", pair) (the oldest open position of that pair) or ("close_all", pair)."""

    def __init__(self, script):
        self.script = script
        self.tags = 0

    def decide(self, context):
        out = []
        for item in self.script.get(context.bar_index, []):
            if item[0] == "enter":
                self.tags += 1
                out.append(StrategyDecision(
                    action=StrategyAction.ENTER, pair=item[1], size_multiplier=item[3],
                    meta={"direction": item[2], "tag": self.tags},
                ))
            elif item[0] == "close":
                pos = next(p for p in context.positions if p.pair == item[1])
                out.append(StrategyDecision(action=StrategyAction.CLOSE, pair=pos.pair, position_id=pos.id))
            else:
                out.append(StrategyDecision(action=StrategyAction.CLOSE_ALL, pair=item[1]))
        return out


class RecordingEntries(EntryRule):
    """The model's entry rule, recording every entry order's requested notional by tag."""

    def __init__(self, inner):
        self.inner = inner
        self.notional: dict[int, float] = {}

    def on_start(self, market):
        self.inner.on_start(market)

    def check_entries(self, context, state):
        orders = self.inner.check_entries(context, state)
        for order in orders:
            self.notional[order.meta["tag"]] = order.notional
        return orders


def build_runner(cfg, pairs):
    model = RandomModel(cfg["seed"], pairs) if cfg["script"] is None else ScriptModel(cfg["script"])
    entries = RecordingEntries(ModelEntryRule(
        model=model, base_position_size=cfg["base_position_size"], max_positions=cfg["max_positions"], allow_shorts=True,
    ))
    exits = [ModelExitRule(model=model)]
    if cfg["tp_sl"] is not None:
        tp, sl, intrabar = cfg["tp_sl"]
        exits.append(TakeProfitStopLossExit(take_profit_pct=tp, stop_loss_pct=sl, intrabar=intrabar))
    runner = BacktestRunner(
        strategy_id="costs", broker=BacktestBroker(executor=build_executor(cfg)), entry_rules=[entries],
        exit_rules=exits, initial_capital=INITIAL, fill_at=cfg["fill_at"],
    )
    return runner, entries


# ----------------------------------------------------------------------------- the independent ledger


def expected_fee(desc, pair, qty, price):
    if desc[0] == "per_pair":
        return expected_fee(desc[2] if pair == "P1" else desc[1], pair, qty, price)
    if desc[0] == "fixed":
        return desc[1]
    _, rate, minimum = desc
    return max(rate * qty * price, minimum)


def largest_notional(desc, pair, budget, margin_rate):
    """The largest notional n with ``n * margin_rate + fee(n) <= budget`` (fees here depend on
    the notional only): solved for each fee model's regime."""
    if desc[0] == "per_pair":
        return largest_notional(desc[2] if pair == "P1" else desc[1], pair, budget, margin_rate)
    if desc[0] == "fixed":
        return (budget - desc[1]) / margin_rate
    _, rate, minimum = desc
    n = budget / (margin_rate + rate)  # the proportional fee applies ...
    return n if rate * n >= minimum else (budget - minimum) / margin_rate  # ... or the minimum does


def close_enough(a, b, scale):
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * scale)


class Ledger:
    """Cash, positions, borrow and shortfall rebuilt from the fills and the bars."""

    def __init__(self, cfg, bars: Bars, entries: RecordingEntries):
        self.cfg, self.bars, self.entries = cfg, bars, entries
        self.margin_account = cfg["account"] == "margin"
        self.mm = maintenance_of(cfg) if self.margin_account else None
        self.cash = INITIAL
        self.open: dict[str, dict] = {}  # opening order
        self.fees = self.borrow = self.shortfall = self.realized = 0.0
        self.turnover = 0.0
        self.halted = False
        self.liquidations = 0
        self.ambiguous = 0
        self.covers = 0

    @property
    def scale(self):
        return INITIAL + self.turnover

    # -- values ------------------------------------------------------------------------------
    def value(self, p, price):
        pnl = (price - p["entry"]) * p["qty"] * (1 if p["long"] else -1)
        if self.margin_account:
            return p["margin"] + pnl
        return p["qty"] * price if p["long"] else p["qty"] * p["entry"] + pnl

    def equity(self):
        return self.cash + sum(self.value(p, p["last"]) for p in self.open.values())

    def unrealized(self):
        return sum((p["last"] - p["entry"]) * p["qty"] * (1 if p["long"] else -1) for p in self.open.values())

    def budget(self):
        """The cash an entry may use: the free cash (spot), cash + min(unrealised, 0) (margin)."""
        return self.cash + min(self.unrealized(), 0.0) if self.margin_account else self.cash

    # -- fills ---------------------------------------------------------------------------------
    def expected_price(self, buy, mp, qty, t, pair):
        desc = self.cfg["slippage"]
        kind = desc[0]
        if kind == "prop":
            return mp * (1 + desc[1]) if buy else mp * (1 - desc[1])
        if kind == "bps":
            half = desc[1] / 20_000
            return mp * (1 + half) if buy else mp * (1 - half)
        if kind == "column":
            half = self.bars.bar(t, pair)["spread"] / 2
            return mp + half if buy else max(mp - half, 0.0)
        _, k, window = desc
        impact = k * self.bars.past_volatility(t, pair, window) * math.sqrt(qty / self.bars.bar(t, pair)["volume"])
        return mp * (1 + impact) if buy else max(mp * (1 - impact), 0.0)

    def expected_market_price(self, fill, t, phase, position):
        """The bar price a rule's fill is priced from: the open (pending orders), the close, or
        a take-profit / stop level inside the bar (intrabar TP/SL)."""
        bar = self.bars.bar(t, fill.pair)
        tp_sl = self.cfg["tp_sl"]
        if fill.reason in ("take_profit", "stop_loss") and tp_sl is not None and tp_sl[2]:
            assert phase == "close"
            tp, sl, _ = tp_sl
            e, o = position["entry"], bar["open"]
            if position["long"]:
                stop, take = e * (1 - sl), e * (1 + tp)
                if bar["low"] <= stop:
                    assert fill.reason == "stop_loss"
                    return min(stop, o)
                assert fill.reason == "take_profit" and bar["high"] >= take
                return max(take, o)
            stop, take = e * (1 + sl), e * (1 - tp)
            if bar["high"] >= stop:
                assert fill.reason == "stop_loss"
                return max(stop, o)
            assert fill.reason == "take_profit" and bar["low"] <= take
            return min(take, o)
        return bar["open"] if phase == "open" else bar["close"]

    def apply_trade(self, fill, t, phase, portfolio):
        """Check and apply a fill made by a rule (not a liquidation) on bar t."""
        bar = self.bars.bar(t, fill.pair)
        assert bar is not None, "a fill on a bar the pair does not have"
        assert fill.bar == t and fill.time == T0 + timedelta(seconds=self.bars.seconds[t])
        assert fill.reason != LIQ
        cap = self.cfg["cap"]
        if cap is not None or self.cfg["slippage"][0] == "sqrt":
            assert bar["volume"] > 0.0, "a fill on a zero-volume bar"
        buy = fill.side.value == "buy"
        if fill.is_entry:
            assert not self.halted, "an entry after the account was halted"
            assert fill.position_id not in self.open
            long = fill.position_type.value == "long"
            assert buy == long
            mp = self.expected_market_price(fill, t, phase, None)
            notional = self.entries.notional[portfolio.positions[fill.position_id].meta["tag"]]
            estimate = notional / mp if cap is None else min(notional / mp, cap * bar["volume"])
            price = self.expected_price(buy, mp, estimate, t, fill.pair)
            margin_rate = 1.0 / self.cfg["leverage"] if self.margin_account else 1.0
            asked = notional if cap is None or notional / price <= cap * bar["volume"] else cap * bar["volume"] * price
            limit = largest_notional(self.cfg["fee"], fill.pair, self.budget(), margin_rate)
            if asked > limit:  # reduced to the free cash / margin: priced at the reduced size
                estimate = limit / mp if cap is None else min(limit / mp, cap * bar["volume"])
                price = self.expected_price(buy, mp, estimate, t, fill.pair)
            assert fill.market_price == mp
            assert (fill.price - mp if buy else mp - fill.price) >= 0.0  # slippage is paid, never earned
            assert math.isclose(fill.price, price, rel_tol=1e-9, abs_tol=1e-12), (fill.price, price)
            assert fill.qty > 0.0 and fill.qty * fill.price <= notional * (1 + 1e-9)
            if cap is not None:
                assert fill.qty <= cap * bar["volume"] * (1 + 1e-12)
            if self.margin_account:
                assert math.isclose(fill.margin, fill.qty * fill.price / self.cfg["leverage"], rel_tol=1e-12)
                locked = fill.margin
            else:
                assert fill.margin is None
                locked = fill.qty * fill.price
            fee = expected_fee(self.cfg["fee"], fill.pair, fill.qty, fill.price)
            assert math.isclose(fill.fee, fee, rel_tol=1e-12, abs_tol=1e-15)
            assert locked + fill.fee <= self.budget() * (1 + 1e-12) + 1e-9, "an entry beyond the free cash / margin"
            # sized as asked, unless the volume cap or the free cash / margin (with the fee) is smaller
            size = min(asked, limit)
            # (absolute 1e-9 quote currency: an account wiped down to ~1e-8 sizes from a budget whose
            # last digits cancellation has rounded differently in the ledger and the portfolio)
            assert math.isclose(fill.qty * fill.price, size, rel_tol=1e-9, abs_tol=1e-9), (fill.qty * fill.price, size)
            self.cash -= locked + fill.fee
            self.fees += fill.fee
            self.open[fill.position_id] = {
                "pair": fill.pair, "long": long, "qty": fill.qty, "entry": fill.price, "margin": fill.margin,
                "entry_bar": t, "last": fill.price,
            }
        else:
            p = self.open[fill.position_id]
            assert buy != p["long"] and fill.qty == p["qty"]
            mp = self.expected_market_price(fill, t, phase, p)
            assert math.isclose(fill.market_price, mp, rel_tol=1e-15), (fill.market_price, mp)
            price = self.expected_price(buy, mp, p["qty"], t, fill.pair)
            assert math.isclose(fill.price, price, rel_tol=1e-9, abs_tol=1e-12), (fill.price, price)
            assert fill.margin is None
            self._close(fill)
        self.turnover += fill.qty * fill.price

    def _close(self, fill):
        p = self.open.pop(fill.position_id)
        fee = expected_fee(self.cfg["fee"], fill.pair, fill.qty, fill.price)
        assert math.isclose(fill.fee, fee, rel_tol=1e-12, abs_tol=1e-15)
        pnl = (fill.price - p["entry"]) * p["qty"] * (1 if p["long"] else -1)
        self.realized += pnl
        self.cash += self.value(p, fill.price) - fill.fee
        self.fees += fill.fee

    # -- the account at bar t's mark -------------------------------------------------------------
    def settle(self, t, liquidation_fills):
        """Mark, charge borrow and check the liquidation fills of bar t against the rules."""
        if not self.open:
            assert not liquidation_fills
            return
        bars = self.bars
        marks = bars.mark[t]
        for p in self.open.values():
            p["last"] = marks[bars.col[p["pair"]]]
        if self.margin_account and t > 0:
            years = (bars.seconds[t] - bars.seconds[t - 1]) / YEAR_SECONDS
            base = 0.0
            for p in self.open.values():
                if p["entry_bar"] < t:
                    base += p["qty"] * p["entry"] - p["margin"] if p["long"] else p["qty"] * p["last"]
            charge = self.cfg["borrow_rate"] * years * base
            self.cash -= charge
            self.borrow += charge
        expected = self._expected_liquidations(t)
        actual = [(f.position_id, f.price) for f in liquidation_fills]
        if expected is None:  # at the requirement to rounding: either outcome is right
            self.ambiguous += 1
        else:
            assert [pid for pid, _ in actual] == [pid for pid, _ in expected], (t, actual, expected)
            for (_, got), (_, want) in zip(actual, expected):
                assert math.isclose(got, want, rel_tol=1e-9), (t, got, want)
        self._liquidate(t, liquidation_fills, write_off=bool(liquidation_fills))

    def _liquidate(self, t, fills, *, write_off):
        for f in fills:
            p = self.open[f.position_id]
            assert f.reason == LIQ and f.bar == t and f.qty == p["qty"] and f.market_price == f.price
            assert (f.side.value == "buy") != p["long"]
            self._close(f)
            self.turnover += f.qty * f.price
            self.liquidations += 1
        if write_off and self.cash < 0.0:  # a loss beyond the equity: written off, the account halts
            assert not self.open
            self.shortfall += -self.cash
            self.cash = 0.0
            self.halted = True

    def in_debt(self):
        """After a rule's exit: a spot account owes cash, or a margin account's equity is below 0."""
        return self.equity() < 0.0 if self.margin_account else self.cash < 0.0

    def cover(self, t, fills):
        """An exit left the account in debt: everything still open is closed at bar t's mark."""
        marks = self.bars.mark[t]
        expected = [(pid, marks[self.bars.col[p["pair"]]]) for pid, p in self.open.items()]
        assert [(f.position_id, f.price) for f in fills] == expected, (t, fills, expected)
        self._liquidate(t, fills, write_off=True)
        assert self.halted or self.cash >= 0.0
        self.covers += 1

    def _expected_liquidations(self, t):
        """[(position id, price)] the rules liquidate at bar t, in order; None if the account is
        within rounding of its requirement (both outcomes are right)."""
        bars, positions = self.bars, list(self.open.items())
        tol = 1e-9 * self.scale
        if not self.margin_account:
            out = []
            for pid, p in positions:
                if p["long"]:
                    continue
                level = 2.0 * p["entry"]
                bar = bars.bar(t, p["pair"])
                if self.cfg["intrabar_liquidation"]:
                    if bar is None:
                        continue
                    if bar["open"] >= level:
                        out.append((pid, bar["open"]))
                    elif bar["high"] >= level:
                        out.append((pid, level))
                elif p["last"] >= level:
                    out.append((pid, p["last"]))
            if not out:
                return []
            cash = self.cash
            for pid, price in out:
                p = self.open[pid]
                cash += self.value(p, price) - expected_fee(self.cfg["fee"], p["pair"], p["qty"], price)
            if cash < 0.0:  # sell the rest at the mark to pay the debt
                if abs(cash) < tol:
                    return None
                named = {pid for pid, _ in out}
                out += [(pid, p["last"]) for pid, p in positions if pid not in named]
            return out
        mm = self.mm

        def surplus(prices):
            return self.cash + sum(self.value(p, x) - mm * p["qty"] * x for (_, p), x in zip(positions, prices))

        if not self.cfg["intrabar_liquidation"]:
            marks = [p["last"] for _, p in positions]
            s = surplus(marks)
            if abs(s) < tol:
                return None
            return [(pid, x) for (pid, _), x in zip(positions, marks)] if s <= 0.0 else []
        # every position of a pair follows the pair's one path: from its open to whichever of its
        # low and high leaves the lower surplus (the other pairs at their opens)
        starts = []
        for _, p in positions:
            bar = bars.bar(t, p["pair"])
            starts.append(p["last"] if bar is None else bar["open"])
        ends = list(starts)
        for pair in {p["pair"] for _, p in positions}:
            bar = bars.bar(t, pair)
            if bar is None:
                continue
            mine = [i for i, (_, p) in enumerate(positions) if p["pair"] == pair]

            def moved(level, mine=mine):
                return [level if i in mine else x for i, x in enumerate(starts)]

            adverse = min((bar["low"], bar["high"]), key=lambda level: surplus(moved(level)))
            for i in mine:
                ends[i] = adverse
        s0, s1 = surplus(starts), surplus(ends)
        if abs(s0) < tol or (s0 > 0.0 and abs(s1) < tol):
            return None
        if s0 <= 0.0:
            prices = starts
        elif s1 > 0.0:
            return []
        else:
            x = s0 / (s0 - s1)
            prices = [a + x * (b - a) for a, b in zip(starts, ends)]
            assert abs(surplus(prices)) <= tol  # the requirement is met exactly there
        return [(pid, price) for (pid, _), price in zip(positions, prices)]


def check_state(run, ledger, where):
    """The portfolio agrees with the ledger, and the identities hold."""
    pf = run.state.portfolio
    scale = ledger.scale
    unrealized = sum(p.unrealized_pnl for p in pf.open_positions())
    identity = INITIAL + pf.realized_pnl + unrealized - pf.fees_paid - pf.borrow_paid + pf.shortfall
    assert close_enough(identity, pf.equity, scale), (where, identity, pf.equity)
    assert close_enough(pf.equity, pf.cash + sum(p.market_value for p in pf.open_positions()), scale)
    assert sorted(p.id for p in pf.open_positions()) == sorted(ledger.open), where
    assert close_enough(pf.cash, ledger.cash, scale), (where, pf.cash, ledger.cash)
    assert close_enough(pf.equity, ledger.equity(), scale), (where, pf.equity, ledger.equity())
    assert close_enough(pf.fees_paid, ledger.fees, scale)
    assert close_enough(pf.realized_pnl, ledger.realized, scale)
    assert close_enough(pf.borrow_paid, ledger.borrow, scale), (where, pf.borrow_paid, ledger.borrow)
    assert close_enough(pf.shortfall, ledger.shortfall, scale), (where, pf.shortfall, ledger.shortfall)
    assert pf.halted == ledger.halted, where
    # never below zero except by a recorded shortfall, after which the account is flat at 0
    assert pf.equity >= -1e-9 * scale, (where, pf.equity)
    if pf.halted:
        assert pf.shortfall > 0.0 and pf.open_count == 0 and pf.equity == 0.0, where
    m = run.state.metrics
    assert m["equity"] == pf.equity and m["borrow_paid"] == pf.borrow_paid


# ----------------------------------------------------------------------------- the property


def consume(ledger, fills, t, phase, portfolio):
    """Apply a phase's fills made by rules (and the closes forced by an exit that left the
    account in debt); return the liquidation fills left over (the account's, at the mark)."""
    i = 0
    while i < len(fills) and fills[i].reason != LIQ:
        f = fills[i]
        ledger.apply_trade(f, t, phase, portfolio)
        i += 1
        if not f.is_entry and ledger.in_debt():
            n = len(ledger.open)
            ledger.cover(t, fills[i : i + n])
            i += n
    return fills[i:]


def example_bars(seconds, **series):
    """Bars for an explicit example: per pair a list of (open, high, low, close, volume,
    spread) or None."""
    pairs = sorted(series)
    rows = [
        [None if series[p][i] is None else dict(zip(("open", "high", "low", "close", "volume", "spread"), series[p][i]))
         for p in pairs]
        for i in range(len(seconds))
    ]
    return Bars(pairs, seconds, rows)


def example_cfg(**overrides):
    cfg = {
        "account": "spot", "leverage": 1.0, "maintenance": None, "borrow_rate": 0.0, "intrabar_liquidation": False,
        "fee": ("prop", 0.001, 0.0), "slippage": ("prop", 0.0), "cap": None, "fill_at": "close", "tp_sl": None,
        "base_position_size": 1.0, "max_positions": 4, "seed": 0, "script": None,
    }
    cfg.update(overrides)
    return cfg


def flat(price, n, volume=1e6):
    return [(price, price, price, price, volume, 0.0)] * n


MINUTES = [60 * i for i in range(6)]
DAYS = [0, 86_400, 90_000, 8 * 86_400, 9 * 86_400, 9 * 86_400 + 60]
GAP_UP = flat(100.0, 2) + flat(500.0, 2) + flat(100.0, 2)
GAP_DOWN = flat(100.0, 2) + flat(20.0, 4)


@settings(max_examples=EXAMPLES)
@given(bars=markets(), cfg=configs)
# a pending close of a spot short fills at an open gapped 5x: the loss beyond the collateral is written off
@example(bars=example_bars(MINUTES, P0=GAP_UP), cfg=example_cfg(
    fill_at="next_open", script={0: [("enter", "P0", "short", 1.0)], 1: [("close_all", "P0")], 3: [("enter", "P0", "long", 0.5)]}))
# the same on a margin account, with another position left open: closed at the mark
@example(bars=example_bars(MINUTES, P0=GAP_DOWN, P1=flat(10.0, 6)), cfg=example_cfg(
    account="margin", leverage=2.0, fill_at="next_open",
    script={0: [("enter", "P0", "long", 1.5), ("enter", "P1", "short", 0.2)], 1: [("close", "P0")]}))
# a short sold at a price the square-root impact floors at 0 is rejected (a long still fills)
@example(bars=example_bars(MINUTES, P0=[(10.0, 10.0, 10.0, 10.0, 0.5, 0.0)] + flat(50.0, 5, volume=0.5)), cfg=example_cfg(
    slippage=("sqrt", 1.0, 2), fee=("fixed", 1.0), script={3: [("enter", "P0", "short", 1.0), ("enter", "P0", "long", 0.1)]}))
# margin, intrabar: the wicks of two pairs breach the requirement together inside the bar, the closes do not
@example(bars=example_bars(MINUTES, P0=flat(100.0, 2) + [(100.0, 101.0, 80.0, 99.0, 1e6, 0.0)] + flat(99.0, 3),
                           P1=flat(10.0, 2) + [(10.0, 12.0, 10.0, 10.0, 1e6, 0.0)] + flat(10.0, 3)), cfg=example_cfg(
    account="margin", leverage=5.0, intrabar_liquidation=True,
    script={0: [("enter", "P0", "long", 3.0), ("enter", "P1", "short", 1.0)]}))
# spot, intrabar: a short's bar opens beyond 2 x entry; the long is sold to pay, the rest written off
@example(bars=example_bars(MINUTES, P0=flat(100.0, 2) + [(300.0, 310.0, 290.0, 300.0, 1e6, 0.0)] + flat(300.0, 3),
                           P1=flat(10.0, 6)), cfg=example_cfg(
    intrabar_liquidation=True, script={0: [("enter", "P0", "short", 0.5), ("enter", "P1", "long", 0.4)]}))
# margin borrow on irregular bar spacing: a leveraged long's borrowed cash and a short's notional at the mark
@example(bars=example_bars(DAYS, P0=[(100.0 + i, 101.0 + i, 99.0 + i, 100.0 + i, 1e6, 0.0) for i in range(6)],
                           P1=flat(10.0, 6)), cfg=example_cfg(
    account="margin", leverage=5.0, borrow_rate=2.0, fill_at="next_open",
    script={0: [("enter", "P0", "long", 3.0), ("enter", "P1", "short", 1.0)], 3: [("close", "P1")]}))
def test_costs_and_liquidations_match_an_independent_ledger_after_every_bar(bars, cfg):
    runner, entries = build_runner(cfg, bars.pairs)
    ledger = Ledger(cfg, bars, entries)
    volumes = [r["volume"] for row in bars.rows for r in row if r is not None]
    if (cfg["cap"] is not None or cfg["slippage"][0] == "sqrt") and not any(v > 0.0 for v in volumes):
        # no bar has a volume: nothing could fill, which is refused up front, not run silently
        with pytest.raises(ConfigError, match="needs bar volumes, but every bar has volume 0"):
            runner.start(bars.frame(), None)
        return
    run = runner.start(bars.frame(), None)
    pf = run.state.portfolio
    seen = 0
    while (ctx := run.begin_bar()) is not None:
        t = ctx.bar_index
        fills = run.broker.fills
        # pending fills at the open (next_open), then the account's liquidations at the mark
        assert cfg["fill_at"] == "next_open" or all(f.reason == LIQ for f in fills[seen:])
        ledger.settle(t, consume(ledger, fills[seen:], t, "open", pf))
        check_state(run, ledger, ("pre-trade", t))
        seen = len(fills)
        run.end_bar()
        assert not consume(ledger, fills[seen:], t, "close", pf)
        check_state(run, ledger, ("post-trade", t))
        seen = len(fills)
    result = run.finish()
    s = result.summary
    assert s["liquidations"] == ledger.liquidations == sum(f.reason == LIQ for f in run.broker.fills)
    assert close_enough(s["liquidation_shortfall"], ledger.shortfall, ledger.scale)
    assert close_enough(s["borrow_paid"], ledger.borrow, ledger.scale)
    assert result.metrics_df["borrow_paid"][-1] == s["borrow_paid"]
    # drawdowns follow the recorded equity and peak (no state that never existed; a pre-trade
    # state an ulp below the same bar's recorded equity is within the tolerance)
    top, max_dd = INITIAL, 0.0
    for equity, peak, drawdown, row_max_dd in result.metrics_df.select(
        "equity", "peak_equity", "current_drawdown", "max_drawdown"
    ).rows():
        top = max(top, equity)
        max_dd = max(max_dd, drawdown)
        assert peak >= top and drawdown == 1.0 - equity / peak and max_dd <= row_max_dd <= max_dd + 1e-12
        max_dd = row_max_dd
    trades = result.trades_df
    assert close_enough(trades["fees"].sum() if trades.height else 0.0, ledger.fees, ledger.scale)
    assert (trades.filter(pl.col("exit_reason") == LIQ).height if trades.height else 0) == ledger.liquidations
    if cfg["cap"] is not None:  # entries larger than the cap were reduced and said so
        assert all("max_volume_participation" in r.reason or "cash" in r.reason for r in result.rejected if r.reduced)
    event(f"account={cfg['account']} liquidations={'yes' if ledger.liquidations else 'no'}")
    event(f"shortfall written off: {ledger.shortfall > 0}")
    event(f"borrow charged: {ledger.borrow > 0}")
    event(f"ambiguous bars: {ledger.ambiguous > 0}")
    event(f"debt after a rule's exit covered: {ledger.covers > 0}")
