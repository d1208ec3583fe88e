"""`features.direction_invariant`: the observation carries no side to pick, a mirrored market
looks the same, the default layout is untouched, and env episodes equal bridge backtests."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl
import pytest
import torch
from stable_baselines3 import PPO

from gymtest_helpers import enter_when_possible, roll_observations, small_market_data
from signalflow.core.enums import PositionType
from signalflow.core.errors import ConfigError
from signalflow.core.position import Position
from signalflow.core.signals import Signals
from signalflow.strategy.metrics import METRIC_NAMES
from signalflow.strategy.model import ModelContext
from signalflow_gym import EnvConfig, FeatureBuilder, SignalFlowEnv
from signalflow_gym.bridge import RLTradingModel

T = datetime(2024, 1, 1)
LONG, SHORT = PositionType.LONG, PositionType.SHORT
SHORTS = {"sizing": {"allow_shorts": True, "max_positions": 3}, "termination": {"ruin_fraction": 0.0}}


def _invariant(**changes) -> EnvConfig:
    return EnvConfig.from_dict({**SHORTS, "features": {"direction_invariant": True}, **changes})


def _context(sig_rows, positions=(), bar=10) -> ModelContext:
    sig = Signals(pl.DataFrame(
        {"pair": [r[0] for r in sig_rows], "timestamp": [T] * len(sig_rows), "signal_type": [r[1] for r in sig_rows],
         "probability": [float(r[2]) for r in sig_rows]},
        schema={"pair": pl.String, "timestamp": pl.Datetime("us"), "signal_type": pl.String, "probability": pl.Float64},
    ))
    m = dict.fromkeys(METRIC_NAMES, 0.0)
    m.update(equity=10_000.0, cash=9_000.0, peak_equity=10_000.0, exposure=0.1)
    return ModelContext(timestamp=T, signals=sig, prices={"A": 1.0, "B": 1.0, "C": 1.0}, positions=list(positions),
                        metrics=m, runtime={}, bar_index=bar)


def _position(pid: str, pair: str, side: PositionType, entry: float, last: float, bar: int = 0) -> Position:
    return Position(id=pid, pair=pair, position_type=side, qty=1.0, entry_price=entry, entry_time=T, last_price=last,
                    last_time=T, entry_bar=bar)


def _flip(sig_rows, positions):
    """The mirrored state: rise <-> fall, long <-> short, each position's last price reflected
    about its entry (2 * entry - last), so its return in its own direction stays the same."""
    flipped = {"rise": "fall", "fall": "rise", "none": "none"}
    rows = [(p, flipped[t], q) for p, t, q in sig_rows]
    pos = [_position(p.id, p.pair, SHORT if p.position_type is LONG else LONG, p.entry_price,
                     2.0 * p.entry_price - p.last_price, p.entry_bar) for p in positions]
    return rows, pos


# --------------------------------------------------------------------------- layout and values
def test_the_invariant_layout_renames_the_signed_columns_and_keeps_the_length():
    plain = FeatureBuilder(EnvConfig.from_dict(SHORTS).features, EnvConfig.from_dict(SHORTS).sizing)
    cfg = _invariant()
    inv = FeatureBuilder(cfg.features, cfg.sizing)
    assert inv.size == plain.size == 6 + 3 * 3 + 3 * 3
    changed = {a: b for a, b in zip(plain.feature_names, inv.feature_names) if a != b}
    assert changed == {**{f"signal{k}.direction": f"signal{k}.agrees_with_top" for k in range(3)},
                       **{f"signal{k}.held": f"signal{k}.held_side" for k in range(3)},
                       **{f"position{m}.side": f"position{m}.with_top" for m in range(3)}}
    i = inv.feature_names.index("signal1.held_side")
    assert (inv.observation_space.low[i], inv.observation_space.high[i]) == (-1.0, 1.0)


def test_invariant_values_are_relative_to_the_top_signals_side():
    cfg = _invariant()
    fb = FeatureBuilder(cfg.features, cfg.sizing)
    rows = [("A", "fall", 0.9), ("B", "rise", 0.8), ("C", "fall", 0.6)]
    positions = [_position("p1", "A", SHORT, 100.0, 90.0, bar=4), _position("p2", "B", SHORT, 10.0, 11.0, bar=8),
                 _position("p3", "A", LONG, 100.0, 90.0, bar=9)]
    x = dict(zip(fb.feature_names, fb.build(_context(rows, positions)).tolist()))
    # signal0 is a "fall": the trade is a short; signal1 ("rise") disagrees, signal2 ("fall") agrees
    assert [x[f"signal{k}.agrees_with_top"] for k in range(3)] == [1.0, -1.0, 1.0]
    # pair A holds one short (with signal0's short side) and one long: mean 0; B holds a short against the rise
    assert [x[f"signal{k}.held_side"] for k in range(3)] == [0.0, -1.0, 0.0]
    assert [x[f"position{m}.with_top"] for m in range(3)] == [1.0, 1.0, -1.0]
    assert [x[f"position{m}.pnl"] for m in range(3)] == pytest.approx([0.1, -0.1, -0.1])
    assert [x[f"position{m}.bars_held"] for m in range(3)] == pytest.approx([0.06, 0.02, 0.01])
    assert fb.observation_space.contains(fb.build(_context(rows, positions)))
    # no signal this bar: positions keep pnl and bars held, their side to the (absent) top is 0
    y = dict(zip(fb.feature_names, fb.build(_context([], positions)).tolist()))
    assert [y[f"position{m}.with_top"] for m in range(3)] == [0.0, 0.0, 0.0]
    assert y["position0.pnl"] == pytest.approx(0.1) and y["signal0.probability"] == 0.0
    # a "none" signal opens a long, as ModelEntryRule does
    z = dict(zip(fb.feature_names, fb.build(_context([("C", "none", 0.7), ("B", "rise", 0.5)], positions[:1])).tolist()))
    assert (z["signal0.agrees_with_top"], z["signal1.agrees_with_top"], z["position0.with_top"]) == (1.0, 1.0, -1.0)


@pytest.mark.parametrize("case", range(4))
def test_a_mirrored_state_gives_the_same_invariant_observation_and_flips_the_default_one(case):
    rng = np.random.default_rng(case)
    pairs = ["A", "B", "C"]
    rows = [(pairs[i], str(rng.choice(["rise", "fall"])), float(rng.uniform(0.3, 1.0))) for i in rng.permutation(3)[: 1 + case % 3]]
    positions = [_position(f"p{i}", str(rng.choice(pairs)), LONG if rng.random() < 0.5 else SHORT, 100.0,
                           float(rng.uniform(80, 120)), int(rng.integers(0, 10))) for i in range(1 + case % 3)]
    mrows, mpositions = _flip(rows, positions)
    cfg = _invariant()
    inv = FeatureBuilder(cfg.features, cfg.sizing)
    a, b = inv.build(_context(rows, positions)), inv.build(_context(mrows, mpositions))
    np.testing.assert_allclose(a, b, atol=1e-6)
    plain = FeatureBuilder(EnvConfig.from_dict(SHORTS).features, cfg.sizing)
    signed = [i for i, n in enumerate(plain.feature_names) if n.endswith((".direction", ".side"))]
    pa, pb = plain.build(_context(rows, positions)), plain.build(_context(mrows, mpositions))
    assert np.array_equal(pa[signed], -pb[signed]) and (pa[signed] != 0).any()


def test_the_default_layout_is_unchanged():
    cfg = EnvConfig()
    assert cfg.features.direction_invariant is False
    names = FeatureBuilder(cfg.features, cfg.sizing).feature_names
    assert names[6:9] == ("signal0.probability", "signal0.direction", "signal0.held")
    assert names[-3:] == ("position2.pnl", "position2.bars_held", "position2.side")


@pytest.mark.parametrize("value", ["yes", 1, None, 0.0])
def test_a_non_boolean_option_is_refused(value):
    with pytest.raises(ConfigError, match=r"features\.direction_invariant"):
        EnvConfig.from_dict({"features": {"direction_invariant": value}})


# --------------------------------------------------------------------------- in the env
def test_a_mirrored_episode_observes_the_same_signals_and_positions():
    changes = {"exit": {"take_profit_pct": None, "stop_loss_pct": None}, "episode": {"length": 200}}
    market = small_market_data()
    plain = SignalFlowEnv(market=market, config=_invariant(**changes))
    mirrored = SignalFlowEnv(market=market, config=_invariant(augment={"mirror": 1.0}, **changes))
    o1, _ = plain.reset(seed=3)
    o2, info = mirrored.reset(seed=3)
    assert info["mirrored"]
    a = np.array(roll_observations(plain, o1, enter_when_possible))
    b = np.array(roll_observations(mirrored, o2, enter_when_possible))
    names = plain.feature_names
    sided = [i for i, n in enumerate(names) if n.startswith(("signal", "position")) and not n.endswith(".pnl")]
    assert a.shape == b.shape and a.shape[0] > 10
    assert np.array_equal(a[:, sided], b[:, sided])  # exactly: nothing there depends on the side
    pnl = [i for i, n in enumerate(names) if n.endswith(".pnl")]
    np.testing.assert_allclose(a[:, pnl], b[:, pnl], atol=0.02)  # a long and its mirrored short earn about the same
    with_top = a[:, names.index("position0.with_top")]
    assert (with_top == 1.0).any() and (with_top == -1.0).any()  # positions with and against a new signal
    sides = set(plain.episode_result().trades_df["position_type"].to_list())
    assert sides == {"long", "short"}


# --------------------------------------------------------------------------- parity with the bridge
@pytest.mark.parametrize("mapper", ["simple", "per_signal"])
def test_env_observations_and_trades_equal_the_bridge_backtest(mapper):
    cfg = _invariant(actions={"mapper": mapper}, episode={"length": None, "random_start": False}, data={"n_bars": 1500, "seed": 4},
                     exit={"take_profit_pct": 0.01, "stop_loss_pct": 0.01})
    seen_env: list[np.ndarray] = []
    seen_bridge: list[np.ndarray] = []

    def recorder(store):
        def policy(obs, mask):
            store.append(np.array(obs))
            return 1 if mask[1] and obs[6] > 0.55 else 0
        return policy

    env = SignalFlowEnv(config=cfg)
    obs, _ = env.reset(seed=0)
    roll_observations(env, obs, recorder(seen_env))
    result = RLTradingModel(recorder(seen_bridge), cfg).backtest(env.market)
    episode = env.episode_result()
    assert episode.trades_df.height >= 5
    assert set(episode.trades_df["position_type"].to_list()) == {"long", "short"}
    assert episode.trades_df.equals(result.trades_df) and episode.metrics_df.equals(result.metrics_df)
    # the bridge's model saw exactly the observations the env's policy saw, bar by bar
    assert len(seen_bridge) == len(seen_env) > 1000
    assert np.array_equal(np.array(seen_bridge), np.array(seen_env))


def test_a_trained_ppo_episode_equals_its_bridge_backtest():
    torch.set_num_threads(1)
    cfg = _invariant(episode={"length": 400}, data={"n_bars": 2000, "signal_rate": 0.08, "seed": 3},
                     exit={"take_profit_pct": 0.01, "stop_loss_pct": 0.005})

    def busy(prev, now) -> float:  # +1 per filled order, so the policy trades and parity is not vacuous
        return float(now["orders_filled"] - prev["orders_filled"])

    model = PPO("MlpPolicy", SignalFlowEnv(config=cfg, reward_fn=busy), seed=0, verbose=0, n_steps=128, batch_size=64)
    model.learn(1024)
    env = SignalFlowEnv(config=cfg)
    obs, _ = env.reset(seed=0, options={"start": 600, "length": 400})
    done = False
    while not done:
        action, _ = model.predict(obs, deterministic=True)
        obs, _, terminated, truncated, _ = env.step(action)
        done = terminated or truncated
    episode = env.episode_result()
    backtest = RLTradingModel(model, cfg).backtest(env.market, start=600, end=1000)
    assert episode.trades_df.height > 0
    assert set(episode.trades_df["position_type"].to_list()) == {"long", "short"}
    assert episode.trades_df.equals(backtest.trades_df)
    assert episode.metrics_df.equals(backtest.metrics_df)
