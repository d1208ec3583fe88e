"""Training-time mirroring (`augment.mirror`): exact mirrors, the probability honoured, never at evaluation."""

from __future__ import annotations

import pickle

import numpy as np
import polars as pl
import pytest

from gymtest_helpers import enter_when_possible, roll_observations, small_market_data, small_synthetic
from signalflow.core.errors import ConfigError
from signalflow_gym import EnvConfig, SignalFlowEnv
from signalflow_gym.augment import mirror_market, mirror_reference_prices, mirror_signals
from signalflow_gym.bridge import RLTradingModel

NO_EXIT = {"sizing": {"allow_shorts": True, "max_positions": 3}, "exit": {"take_profit_pct": None, "stop_loss_pct": None},
           "episode": {"length": 200}, "termination": {"ruin_fraction": 0.0}}


def _config(mirror: float, **changes) -> EnvConfig:
    return EnvConfig.from_dict({**NO_EXIT, "augment": {"mirror": mirror}, **changes})


# --------------------------------------------------------------------------- the mirrored market
def test_mirrored_prices_are_reflected_about_the_first_open_and_high_low_swap():
    market = small_market_data()
    mirror = mirror_market(market)
    p0 = mirror_reference_prices(market)
    assert np.allclose(p0, [market.open[0, j] for j in range(market.n_pairs)])
    c = p0**2
    assert np.allclose(mirror.open, c / market.open)
    assert np.allclose(mirror.close, c / market.close)
    assert np.allclose(mirror.high, c / market.low)
    assert np.allclose(mirror.low, c / market.high)
    assert np.allclose(mirror.mark, c / market.mark)
    assert (mirror.low <= np.minimum(mirror.open, mirror.close) + 1e-12).all()
    assert (mirror.high >= np.maximum(mirror.open, mirror.close) - 1e-12).all()
    # log returns are negated bar by bar; the first open is the pivot
    assert np.allclose(np.diff(np.log(mirror.close), axis=0), -np.diff(np.log(market.close), axis=0))
    assert np.allclose(mirror.open[0], market.open[0])
    assert np.array_equal(mirror.timestamps, market.timestamps) and np.array_equal(mirror.volume, market.volume)
    # mirroring twice gives the original market back
    again = mirror_market(mirror)
    assert np.allclose(again.close, market.close) and np.allclose(again.high, market.high)
    assert again.signals.equals(market.signals)


def test_mirrored_signals_flip_direction_and_keep_their_edge():
    syn = small_synthetic()
    market = small_market_data()
    mirror = mirror_market(market)
    flipped = {"rise": "fall", "fall": "rise"}
    assert mirror.signals["signal_type"].to_list() == [flipped[t] for t in market.signals["signal_type"].to_list()]
    assert mirror.signals.drop("signal_type").equals(market.signals.drop("signal_type"))
    # a signal is right in the mirror exactly when it is right in the original
    h = int(syn.params["horizon"])

    def correct(m) -> np.ndarray:
        sig = m.signals
        t = np.searchsorted(m.timestamps, sig["timestamp"].dt.epoch("us").to_numpy())
        j = np.array([m.pair_index[p] for p in sig["pair"].to_list()])
        keep = t + h < m.n_bars
        up = m.close[t[keep] + h, j[keep]] > m.close[t[keep], j[keep]]
        rise = (sig["signal_type"].to_numpy() == "rise")[keep]
        return up == rise

    assert np.array_equal(correct(market), correct(mirror))
    assert 0.55 < correct(market).mean() < 0.9  # there is an edge to keep


def test_mirror_signals_keeps_other_types_and_empty_frames():
    frame = pl.DataFrame({"signal_type": ["rise", "none", "fall"], "probability": [0.6, 0.5, 0.9]})
    assert mirror_signals(frame)["signal_type"].to_list() == ["fall", "none", "rise"]
    assert mirror_signals(frame.head(0)).height == 0


# --------------------------------------------------------------------------- the env option
def test_a_mirrored_episode_is_the_exact_mirror_of_the_original_one():
    market = small_market_data()
    plain = SignalFlowEnv(market=market, config=_config(0.0))
    mirrored = SignalFlowEnv(market=market, config=_config(1.0))
    o1, i1 = plain.reset(seed=3)
    o2, i2 = mirrored.reset(seed=3)
    assert i1["window"] == i2["window"]  # the start is drawn first, then the mirror
    assert not i1["mirrored"] and i2["mirrored"] and mirrored.mirrored
    assert mirrored.episode_market is mirrored.mirrored_market and mirrored.market is market
    names = plain.feature_names
    direction = [i for i, n in enumerate(names) if n.endswith(".direction") or n.endswith(".side")]
    same = [i for i in range(len(names)) if i not in direction and not n_is_pnl_or_portfolio(names[i])]
    s1, s2 = roll_observations(plain, o1, enter_when_possible), roll_observations(mirrored, o2, enter_when_possible)
    assert len(s1) == len(s2) > 10
    a, b = np.array(s1), np.array(s2)
    assert np.array_equal(a[:, direction], -b[:, direction])  # signal directions and position sides flip
    assert np.allclose(a[:, same], b[:, same])  # probabilities, held flags, bars held
    assert (a[:, direction] != 0).any()
    t1, t2 = plain.episode_result().trades_df, mirrored.episode_result().trades_df
    assert t1.height == t2.height >= 3
    assert t1["pair"].to_list() == t2["pair"].to_list()
    assert t1["entry_time"].to_list() == t2["entry_time"].to_list()
    flip = {"long": "short", "short": "long"}
    assert t2["position_type"].to_list() == [flip[s] for s in t1["position_type"].to_list()]
    p0 = dict(zip(market.pairs, mirror_reference_prices(market)))
    expected = [p0[p] ** 2 / e for p, e in zip(t1["pair"].to_list(), t1["entry_price"].to_list())]
    assert np.allclose(t2["entry_price"].to_numpy(), expected)


def n_is_pnl_or_portfolio(name: str) -> bool:
    """Equity-dependent features: a long and its mirrored short do not earn exactly the same."""
    return name.startswith("portfolio.") or name.endswith(".pnl")


def test_the_mirror_probability_is_honoured_over_many_resets_and_is_seeded():
    env = SignalFlowEnv(market=small_market_data(), config=_config(0.3))
    n = 600
    draws = []
    for i in range(n):
        _, info = env.reset(seed=7 if i == 0 else None)
        draws.append(info["mirrored"])
    share = float(np.mean(draws))
    assert abs(share - 0.3) < 4 * np.sqrt(0.3 * 0.7 / n)  # about 0.075
    again = SignalFlowEnv(market=small_market_data(), config=_config(0.3))
    repeat = [again.reset(seed=7 if i == 0 else None)[1]["mirrored"] for i in range(50)]
    assert repeat == draws[:50]
    never = SignalFlowEnv(market=small_market_data(), config=_config(0.0))
    assert not any(never.reset(seed=7 if i == 0 else None)[1]["mirrored"] for i in range(50))
    always = SignalFlowEnv(market=small_market_data(), config=_config(1.0))
    assert all(always.reset(seed=7 if i == 0 else None)[1]["mirrored"] for i in range(50))


def test_mirroring_off_leaves_the_episodes_unchanged():
    base = EnvConfig.from_dict(NO_EXIT)
    plain = SignalFlowEnv(market=small_market_data(), config=base)
    off = SignalFlowEnv(market=small_market_data(), config=_config(0.0))
    windows = [plain.reset(seed=1 if i == 0 else None)[1]["window"] for i in range(20)]
    assert windows == [off.reset(seed=1 if i == 0 else None)[1]["window"] for i in range(20)]


def test_fixed_start_episodes_are_never_mirrored():
    from signalflow_gym.experiment.envs import validation_config

    cfg = _config(1.0)
    env = SignalFlowEnv(market=small_market_data(), config=cfg)
    for i in range(10):
        _, info = env.reset(seed=i, options={"start": 50 + i, "length": 100})
        assert not info["mirrored"] and env.episode_market is env.market
    fixed = SignalFlowEnv(market=small_market_data(), config=cfg.replace(episode={"random_start": False}))
    assert not any(fixed.reset(seed=i)[1]["mirrored"] for i in range(10))
    validation = SignalFlowEnv(market=small_market_data(), config=validation_config(cfg))
    assert not any(validation.reset(seed=i)[1]["mirrored"] for i in range(10))


def test_the_bridge_never_mirrors():
    market = small_market_data()

    def trades(mirror: float) -> pl.DataFrame:
        model = RLTradingModel(enter_when_possible, _config(mirror))
        return model.backtest(market).trades_df

    with_option, without = trades(1.0), trades(0.0)
    assert with_option.height >= 3 and with_option.equals(without)
    # and it trades the original market: the env's fixed-start episode of the same policy
    env = SignalFlowEnv(market=market, config=_config(1.0).replace(episode={"length": None, "random_start": False}))
    obs, info = env.reset(seed=0)
    assert not info["mirrored"]
    roll_observations(env, obs, enter_when_possible)
    assert env.episode_result().trades_df.equals(with_option)


def test_a_pickled_env_keeps_the_option():
    env = SignalFlowEnv(config=_config(1.0, data={"n_bars": 400}))
    copy = pickle.loads(pickle.dumps(env))
    assert copy.config.augment.mirror == 1.0
    assert copy.reset(seed=0)[1]["mirrored"]


# --------------------------------------------------------------------------- bad values
@pytest.mark.parametrize("value", [1.5, -0.1, "0.5", True, float("nan"), None])
def test_bad_mirror_probabilities_are_refused(value):
    with pytest.raises(ConfigError, match=r"`augment\.mirror` must be a finite number in \[0, 1\]"):
        EnvConfig.from_dict({"augment": {"mirror": value}})


def test_unknown_augment_keys_and_bad_sections_are_refused():
    with pytest.raises(ConfigError, match=r"unknown key `augment\.mirorr`.*did you mean `mirror`"):
        EnvConfig.from_dict({"augment": {"mirorr": 0.5}})
    with pytest.raises(ConfigError, match=r"`augment` must be a mapping"):
        EnvConfig.from_dict({"augment": 0.5})


def test_the_option_round_trips_and_is_accepted_by_experiments(tmp_path):
    from signalflow_gym.experiment.config import ExperimentConfig

    cfg = _config(0.5)
    assert EnvConfig.from_dict(cfg.to_dict()) == cfg
    assert EnvConfig.from_yaml(cfg.to_yaml(tmp_path / "env.yaml")).augment.mirror == 0.5
    exp = ExperimentConfig.from_yaml("ppo", overrides=["env.augment.mirror=0.5"])
    assert exp.env.augment.mirror == 0.5
    with pytest.raises(ConfigError, match=r"augment\.mirror"):
        ExperimentConfig.from_yaml("ppo", overrides=["env.augment.mirror=2"])
