"""Feature builder, action mappers and reward functions on hand-made contexts."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import polars as pl
import pytest

from signalflow.core.enums import PositionType
from signalflow.core.position import Position
from signalflow.core.signals import Signals
from signalflow.strategy.metrics import METRIC_NAMES
from signalflow.strategy.model import ModelContext, StrategyAction
from signalflow_gym import (
    DifferentialSharpe,
    EnvConfig,
    FeatureBuilder,
    PerSignalActionMapper,
    SimpleActionMapper,
    drawdown_penalty,
    log_return,
    make_reward,
    pnl,
)
from signalflow_gym.config import RewardConfig

T = datetime(2024, 1, 1)


def metrics(**kw) -> dict[str, float]:
    m = dict.fromkeys(METRIC_NAMES, 0.0)
    m.update(equity=10_000.0, cash=10_000.0, peak_equity=10_000.0)
    m.update(kw)
    return m


def signals(rows) -> Signals:
    return Signals(pl.DataFrame(
        {"pair": [r[0] for r in rows], "timestamp": [T] * len(rows), "signal_type": [r[1] for r in rows],
         "probability": [float(r[2]) for r in rows]},
        schema={"pair": pl.String, "timestamp": pl.Datetime("us"), "signal_type": pl.String, "probability": pl.Float64},
    ))


def position(pid: str, pair: str, side: PositionType = PositionType.LONG, entry=100.0, last=110.0, bar=0) -> Position:
    return Position(id=pid, pair=pair, position_type=side, qty=1.0, entry_price=entry, entry_time=T, last_price=last,
                    last_time=T, entry_bar=bar)


def context(sig_rows=(), positions=(), prices=None, bar=10, **m) -> ModelContext:
    return ModelContext(timestamp=T, signals=signals(list(sig_rows)), prices=prices or {"A": 1.0, "B": 1.0, "C": 1.0},
                        positions=list(positions), metrics=metrics(**m), runtime={"regime": 2.5}, bar_index=bar)


CFG = EnvConfig(features={"top_k_signals": 2, "max_position_features": 2, "runtime_features": ["regime"]})


# ------------------------------------------------------------------------- features
def test_features_names_and_space_have_the_same_length():
    fb = FeatureBuilder(CFG.features, CFG.sizing)
    assert len(fb.feature_names) == fb.observation_space.shape[0] == 6 + 3 * 2 + 3 * 2 + 1
    assert np.all(np.isfinite(fb.observation_space.low)) and np.all(np.isfinite(fb.observation_space.high))
    assert fb.feature_names[:2] == ("portfolio.total_return", "portfolio.cash_fraction")
    assert fb.feature_names[-1] == "runtime.regime"


def test_features_values_follow_the_layout():
    fb = FeatureBuilder(CFG.features, CFG.sizing)
    ctx = context([("B", "fall", 0.6), ("A", "rise", 0.9), ("C", "rise", 0.7)], [position("p1", "A", bar=5)],
                  total_return=0.5, cash=5_000.0, equity=15_000.0, current_drawdown=0.1, max_drawdown=0.2, exposure=0.4)
    x = dict(zip(fb.feature_names, fb.build(ctx).tolist()))
    assert x["portfolio.total_return"] == pytest.approx(0.5)
    assert x["portfolio.cash_fraction"] == pytest.approx(1 / 3)
    assert x["portfolio.open_fraction"] == pytest.approx(1 / 3)
    assert (x["signal0.probability"], x["signal0.direction"], x["signal0.held"]) == (pytest.approx(0.9), 1.0, 1.0)
    assert (x["signal1.probability"], x["signal1.direction"], x["signal1.held"]) == (pytest.approx(0.7), 1.0, 0.0)
    assert (x["position0.pnl"], x["position0.bars_held"], x["position0.side"]) == (pytest.approx(0.1), pytest.approx(0.05), 1.0)
    assert (x["position1.pnl"], x["position1.side"]) == (0.0, 0.0)
    assert x["runtime.regime"] == 2.5


def test_features_are_clipped_into_the_space_and_fresh_every_call():
    fb = FeatureBuilder(CFG.features, CFG.sizing)
    ctx = context([], [position("p", "A", PositionType.SHORT, entry=1.0, last=100.0, bar=-10_000)], total_return=50.0, exposure=99.0)
    a, b = fb.build(ctx), fb.build(ctx)
    assert a is not b and a.dtype == np.float32
    assert fb.observation_space.contains(a)
    assert a[0] == 10.0 and a[5] == 10.0
    idle = context()
    c, d = fb.build(idle), fb.build(idle)
    assert c is not d and np.shares_memory(c, d) is False


# ------------------------------------------------------------------------- actions
def test_simple_mapper_enter_top_signal_and_close_all():
    mp = SimpleActionMapper(CFG.sizing)
    ctx = context([("B", "rise", 0.6), ("A", "rise", 0.9)], [position("p1", "C"), position("p2", "C"), position("p3", "B")])
    assert mp.action_names == ("hold", "enter_top", "close_all")
    assert mp.to_decisions(0, ctx) == []
    masks = mp.action_masks(ctx)
    assert masks.tolist() == [True, False, True]  # 3 open = max_positions: no free slot
    ctx2 = context([("B", "rise", 0.6), ("A", "rise", 0.9)], [position("p1", "C")])
    (d,) = mp.to_decisions(1, ctx2)
    assert (d.action, d.pair, d.confidence, d.meta["direction"]) == (StrategyAction.ENTER, "A", 0.9, "long")
    closes = mp.to_decisions(2, ctx)
    assert [(c.action, c.pair) for c in closes] == [(StrategyAction.CLOSE_ALL, "C"), (StrategyAction.CLOSE_ALL, "B")]


def test_simple_mapper_fall_top_signal_needs_allow_shorts():
    ctx = context([("A", "fall", 0.9)])
    no_shorts = SimpleActionMapper(CFG.sizing)
    assert no_shorts.action_masks(ctx).tolist() == [True, False, False]
    assert no_shorts.to_decisions(1, ctx) == []
    shorts = SimpleActionMapper(EnvConfig(sizing={"allow_shorts": True}).sizing)
    (d,) = shorts.to_decisions(1, ctx)
    assert d.meta["direction"] == "short"


def test_mappers_mask_untradable_pairs_and_low_confidence():
    cfg = EnvConfig(sizing={"min_confidence": 0.8})
    ctx = context([("A", "rise", 0.95), ("B", "rise", 0.7)], [position("p1", "B")], prices={"A": 1.0})
    mp = PerSignalActionMapper(cfg.sizing, cfg.features)
    # hold, enter0 (A ok), enter1 (B untradable + low conf), enter2 (absent), close0 (B untradable), close1, close2, close_all
    assert mp.action_masks(ctx).tolist() == [True, True, False, False, False, False, False, False]
    assert mp.to_decisions(4, ctx) == [] and mp.to_decisions(7, ctx) == []


def test_per_signal_mapper_enters_signal_k_and_closes_position_m():
    mp = PerSignalActionMapper(CFG.sizing, CFG.features)
    assert mp.action_names == ("hold", "enter_signal0", "enter_signal1", "close_position0", "close_position1", "close_all")
    ctx = context([("A", "rise", 0.9), ("B", "rise", 0.8)], [position("p1", "C"), position("p2", "A")])
    assert mp.action_masks(ctx).tolist() == [True, True, True, True, True, True]
    (d,) = mp.to_decisions(2, ctx)
    assert (d.pair, d.confidence) == ("B", 0.8)
    (c,) = mp.to_decisions(4, ctx)
    assert (c.action, c.position_id, c.pair) == (StrategyAction.CLOSE, "p2", "A")


def test_per_signal_mapper_invalid_action_is_a_noop():
    mp = PerSignalActionMapper(CFG.sizing, CFG.features)
    ctx = context()
    for a in range(mp.action_space.n):
        assert mp.to_decisions(a, ctx) == [] or a == 0
    assert mp.action_masks(ctx).tolist() == [True] + [False] * 5


# ------------------------------------------------------------------------- rewards
def test_reward_functions_are_pure_formulas():
    assert log_return(100.0, 110.0) == pytest.approx(math.log(1.1))
    assert pnl(100.0, 110.0, initial=1000.0) == pytest.approx(0.01)
    assert drawdown_penalty(0.1, 0.2, weight=2.0) == pytest.approx(-0.2)
    assert drawdown_penalty(0.2, 0.1, weight=2.0) == 0.0


def test_differential_sharpe_matches_the_moody_saffell_update():
    dsr = DifferentialSharpe(eta=0.1)
    assert dsr(0.01) == 0.0  # no variance estimate yet
    A, B = 0.1 * 0.01, 0.1 * 0.0001
    r = -0.02
    expected = (B * (r - A) - 0.5 * A * (r * r - B)) / (B - A * A) ** 1.5
    assert dsr(r) == pytest.approx(expected)
    dsr.reset()
    assert (dsr.A, dsr.B) == (0.0, 0.0)


@pytest.mark.parametrize("name", ["log_return", "pnl", "differential_sharpe"])
def test_make_reward_scale_and_penalty(name):
    base = make_reward(RewardConfig(name=name), initial_capital=10_000.0)
    full = make_reward(RewardConfig(name=name, scale=2.0, drawdown_penalty=1.0), initial_capital=10_000.0)
    prev, cur = metrics(equity=10_000.0), metrics(equity=9_900.0, current_drawdown=0.01)
    b, f = base(prev, cur), full(prev, cur)
    assert f == pytest.approx(2.0 * b - 0.01)
