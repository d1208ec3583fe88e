"""`SignalFlowEnv`: determinism, windows, rewards, episode end, info, rendering, results."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from gymnasium.error import InvalidAction

from gymtest_helpers import check_accounting, small_market_data
from signalflow.core.errors import ConfigError, RunStateError
from signalflow_gym import SignalFlowEnv
from signalflow_gym.env import EPISODE_TRADING_FIGURES


def make_env(**config) -> SignalFlowEnv:
    config.setdefault("episode", {"length": 200})
    return SignalFlowEnv(market=small_market_data(), config=config)


def rollout(env: SignalFlowEnv, seed: int, actions=None, *, masked: bool = True):
    """Run one episode; actions from a seeded RNG over valid actions (or the given list, cycled)."""
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    observations, rewards = [obs], []
    i = 0
    while True:
        if actions is not None:
            a = actions[i % len(actions)]
        elif masked:
            a = int(rng.choice(np.flatnonzero(env.action_masks())))
        else:
            a = int(rng.integers(env.action_space.n))
        obs, r, terminated, truncated, info = env.step(a)
        observations.append(obs)
        rewards.append(r)
        i += 1
        if terminated or truncated:
            break
    return observations, rewards, terminated, truncated, info


@pytest.mark.parametrize("mapper", ["simple", "per_signal"])
def test_env_same_seed_same_actions_identical_episode(mapper):
    a, b = make_env(actions={"mapper": mapper}), make_env(actions={"mapper": mapper})
    oa, ra, *_ = rollout(a, seed=5)
    ob, rb, *_ = rollout(b, seed=5)
    assert len(oa) == len(ob)
    assert all(np.array_equal(x, y) for x, y in zip(oa, ob))
    assert ra == rb
    assert a.episode_result().trades_df.equals(b.episode_result().trades_df)
    assert a.episode_result().trades_df.height > 0


def test_env_different_seeds_give_different_windows():
    env = make_env()
    starts = set()
    for seed in range(8):
        _, info = env.reset(seed=seed)
        starts.add(info["window"][0])
    assert len(starts) > 1


def test_env_reset_with_same_seed_repeats_the_window():
    env = make_env()
    _, i1 = env.reset(seed=42)
    _, i2 = env.reset(seed=42)
    assert i1["window"] == i2["window"]


@pytest.mark.parametrize("config", [
    {},
    {"actions": {"mapper": "per_signal"}, "sizing": {"allow_shorts": True}},
    {"broker": {"fill_at": "next_open", "slippage_pct": 0.001}, "exit": {"take_profit_pct": 0.01, "stop_loss_pct": 0.01}},
    {"skip_idle_bars": True, "actions": {"mapper": "per_signal"}},
])
def test_env_log_return_rewards_sum_to_log_of_final_over_initial(config):
    env = make_env(**config)
    for seed in range(3):
        _, rewards, *_ = rollout(env, seed=seed, masked=False)
        final = env.episode_result().metrics_df["equity"][-1]
        assert abs(sum(rewards) - math.log(final / 10_000.0)) < 1e-9


def test_env_reset_options_start_and_length_set_the_window(market):
    env = make_env()
    obs, info = env.reset(seed=0, options={"start": 100, "length": 50})
    assert info["window"] == (100, 150) and info["bar"] == 100
    steps = 0
    while True:
        *_, terminated, truncated, info = env.step(0)
        steps += 1
        if terminated or truncated:
            break
    assert truncated and not terminated and steps == 50
    assert env.episode_result().metrics_df.height == 50
    _, info = env.reset(options={"start": market.datetimes[300], "length": None})
    assert info["window"] == (300, market.n_bars)


def test_env_reset_start_datetime_outside_the_data_is_refused_with_the_span(market):
    from datetime import timedelta

    env = make_env()
    first, last = market.datetimes[0], market.datetimes[-1]
    for when in (first - timedelta(days=1), last + timedelta(minutes=1)):
        with pytest.raises(ConfigError, match=rf"^reset option `start` must be a datetime within the data, from {first} "
                                              rf"to {last}, was {when}; pick a time inside that span"):
            env.reset(options={"start": when, "length": 10})
    _, info = env.reset(options={"start": first, "length": 10})
    assert info["window"] == (0, 10)
    _, info = env.reset(options={"start": market.datetimes[300] - timedelta(seconds=1), "length": 10})
    assert info["window"] == (300, 310)  # between bars: the next bar


def test_env_reset_unknown_option_is_an_error():
    env = make_env()
    with pytest.raises(ConfigError, match=r"^unknown reset option `begin`; valid options: `start`, `length`$"):
        env.reset(options={"begin": 3})


def test_env_episode_longer_than_data_is_a_config_error():
    with pytest.raises(ConfigError, match=r"^`episode.length` must be <= bars after warm-up"):
        make_env(episode={"length": 10_000})


def test_env_warmup_bars_are_never_a_start():
    env = make_env(episode={"length": 100, "warmup_bars": 450})
    for seed in range(10):
        _, info = env.reset(seed=seed)
        assert 450 <= info["window"][0] <= 500


def test_env_ruin_terminates_and_is_never_truncated_too():
    # 5% fee per fill with full-size positions: equity falls below 90% within a few trades.
    env = make_env(broker={"fee_rate": 0.05}, sizing={"base_position_size": 1.0, "max_positions": 1},
                   termination={"ruin_fraction": 0.9}, actions={"mapper": "simple"})
    env.reset(seed=0, options={"start": 0, "length": 600})
    for _ in range(600):
        mask = env.action_masks()
        a = 1 if mask[1] else (2 if mask[2] else 0)
        obs, r, terminated, truncated, info = env.step(a)
        if terminated or truncated:
            break
    assert terminated and not truncated
    assert info["equity"] < 9_000.0
    result = env.episode_result()
    assert result.metrics_df["equity"][-1] == info["equity"]
    assert result.metrics_df.height < 600
    with pytest.raises(RunStateError):
        env.step(0)


def test_env_max_drawdown_terminates():
    env = make_env(broker={"fee_rate": 0.05}, sizing={"base_position_size": 1.0, "max_positions": 1},
                   termination={"ruin_fraction": 0.0, "max_drawdown": 0.05})
    env.reset(seed=0, options={"start": 0, "length": 600})
    for _ in range(600):
        mask = env.action_masks()
        *_, terminated, truncated, info = env.step(1 if mask[1] else 0)
        if terminated or truncated:
            break
    assert terminated
    assert env.episode_result().metrics_df["current_drawdown"][-1] >= 0.05


def test_env_info_reports_the_step():
    env = make_env(actions={"mapper": "simple"})
    env.reset(seed=1)
    seen_fill = False
    for _ in range(200):
        mask = env.action_masks()
        a = 1 if mask[1] else (2 if mask[2] else 0)
        obs, r, terminated, truncated, info = env.step(a)
        assert set(info) >= {"equity", "cash", "positions", "decisions", "fills", "rejected", "skipped", "closed",
                             "action_mask", "bar", "timestamp", "idle_bars"}
        assert np.array_equal(info["action_mask"], env.action_masks())
        assert info["positions"] == len(env.run.state.portfolio.open_positions())
        check_accounting(env.run.state, 10_000.0)
        if info["fills"]:
            seen_fill = True
            assert info["decisions"]
        if terminated or truncated:
            break
    assert seen_fill


def test_env_masked_invalid_action_is_a_noop():
    env = make_env(actions={"mapper": "per_signal"})
    env.reset(seed=2)
    for _ in range(50):
        mask = env.action_masks()
        invalid = np.flatnonzero(~mask)
        a = int(invalid[0]) if invalid.size else 0
        *_, info = env.step(a)
        assert info["decisions"] == [] and info["fills"] == [] and info["skipped"] == []


def test_env_action_outside_the_space_is_invalid_action():
    env = make_env()
    env.reset(seed=0)
    with pytest.raises(InvalidAction, match=r"^`action` must be an integer in \[0, 3\) \(the action space Discrete\(3\): "
                       r"hold, enter_top, close_all\), was 7 \(int\); "):
        env.step(7)


def test_env_step_before_reset_is_a_run_state_error():
    with pytest.raises(RunStateError, match=r"^call reset\(\) before step\(\)$"):
        make_env().step(0)


def test_env_episode_result_before_the_end_is_an_error():
    env = make_env()
    env.reset(seed=0)
    env.step(0)
    with pytest.raises(RunStateError, match="still running"):
        env.episode_result()


def test_env_skip_idle_bars_with_no_signals_in_window_is_an_empty_episode(synthetic):
    raw = synthetic.raw_data
    sigs = synthetic.signals.head(0)
    with pytest.warns(UserWarning, match="no signals"):
        env = SignalFlowEnv(raw, sigs, config={"skip_idle_bars": True, "episode": {"length": 50}})
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    obs, r, terminated, truncated, info = env.step(0)
    assert (r, terminated, truncated) == (0.0, False, True)
    assert env.episode_result().metrics_df.height == 50
    # the last step of every episode carries its trading figures, this one's too
    assert set(info["trading"]) == set(EPISODE_TRADING_FIGURES)
    assert info["trading"]["n_trades"] == 0.0 and info["trading"]["total_return"] == 0.0


def test_env_skip_idle_bars_steps_only_decision_bars():
    env = make_env(skip_idle_bars=True)
    env.reset(seed=0, options={"start": 0, "length": 600})
    steps = 0
    while True:
        *_, terminated, truncated, _ = env.step(0)
        steps += 1
        if terminated or truncated:
            break
    assert steps == int((small_market_data().signal_counts > 0).sum())
    assert env.episode_result().metrics_df.height == 600


def test_env_render_ansi_is_one_status_line():
    env = SignalFlowEnv(market=small_market_data(), config={"episode": {"length": 100}}, render_mode="ansi")
    env.reset(seed=0)
    env.step(0)
    text = env.render()
    assert isinstance(text, str) and text.count("\n") == 1 and "equity" in text


def test_env_render_rgb_array_is_an_image():
    env = SignalFlowEnv(market=small_market_data(), config={"episode": {"length": 100}}, render_mode="rgb_array")
    rollout(env, seed=0)
    img = env.render()
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and img.shape[0] > 100


def test_env_reward_fn_callable_replaces_the_reward():
    calls = []

    def reward(prev, cur):
        calls.append((prev["equity"], cur["equity"]))
        return 1.0

    env = SignalFlowEnv(market=small_market_data(), config={"episode": {"length": 20}}, reward_fn=reward)
    _, rewards, *_ = rollout(env, seed=0)
    assert rewards == [1.0] * 20 and len(calls) == 20


def test_env_pickle_round_trip_keeps_config_data_and_rng():
    env = make_env(actions={"mapper": "per_signal"})
    env.reset(seed=9)
    rollout(env, seed=9)
    clone = pickle.loads(pickle.dumps(env))
    assert clone.config == env.config
    assert clone.market.pairs == env.market.pairs and clone.market.n_bars == env.market.n_bars
    o1, i1 = env.reset()
    o2, i2 = clone.reset()
    assert i1["window"] == i2["window"] and np.array_equal(o1, o2)


def test_env_pickle_of_embedded_market_env_is_small():
    env = SignalFlowEnv()
    env.reset(seed=0)
    assert len(pickle.dumps(env)) < 20_000
