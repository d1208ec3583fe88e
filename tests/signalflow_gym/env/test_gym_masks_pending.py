"""Action masks see the orders queued for the next open (`fill_at="next_open"`).

An ENTER is valid only if it still fits `max_positions` once the pending entries and
closes fill; a position whose exit is pending cannot be closed again. The random-state
test checks, for every action of every state, that the mask says exactly what stepping
the environment (and the rules, for the decision a masked action names) would do.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

import numpy as np
import polars as pl
import pytest

from signalflow.core.enums import PositionType
from signalflow.core.position import Position
from signalflow.core.signals import Signals
from signalflow.data.synthetic import make_synthetic_market
from signalflow.strategy.model import (
    ModelContext,
    PendingOrders,
    StrategyAction,
    StrategyDecision,
    context_with_pending,
)
from signalflow.strategy.runner.market_data import MarketData
from signalflow_gym import EnvConfig, PerSignalActionMapper, SignalFlowEnv, SimpleActionMapper, build_runner
from signalflow_gym.actions import make_action_mapper

T = datetime(2024, 1, 1)
PRICES = {"A": 1.0, "B": 1.0}


def signals(rows) -> Signals:
    return Signals(pl.DataFrame(
        {"pair": [r[0] for r in rows], "timestamp": [T] * len(rows), "signal_type": [r[1] for r in rows],
         "probability": [float(r[2]) for r in rows]},
        schema={"pair": pl.String, "timestamp": pl.Datetime("us"), "signal_type": pl.String, "probability": pl.Float64},
    ))


def ctx(sig_rows=(), positions=(), pending=PendingOrders(), prices=PRICES) -> ModelContext:
    return ModelContext(timestamp=T, signals=signals(list(sig_rows)), prices=dict(prices), positions=list(positions),
                        pending=pending)


def pos(pid: str, pair: str) -> Position:
    return Position(id=pid, pair=pair, position_type=PositionType.LONG, qty=1.0, entry_price=1.0, entry_time=T)


def per_signal(max_positions: int) -> PerSignalActionMapper:
    cfg = EnvConfig(sizing={"max_positions": max_positions}, features={"top_k_signals": 2, "max_position_features": 2})
    return PerSignalActionMapper(cfg.sizing, cfg.features)


def simple(max_positions: int) -> SimpleActionMapper:
    return SimpleActionMapper(EnvConfig(sizing={"max_positions": max_positions}).sizing)


# ------------------------------------------------------------------------- the mappers, on hand-made contexts
def test_context_projected_open_count_and_is_closable_count_pending_orders():
    c = ctx(positions=[pos("p1", "A"), pos("p2", "B")], pending=PendingOrders(entries=3, closing=frozenset({"p2"})))
    assert c.projected_open_count == 2 - 1 + 3
    assert (c.is_closable("p1"), c.is_closable("p2"), c.is_closable("p9")) == (True, False, False)
    assert ctx(positions=[pos("p1", "A")]).projected_open_count == 1


def test_per_signal_mask_refuses_enter_when_pending_entries_fill_the_slots():
    mp = per_signal(max_positions=2)
    c = ctx([("A", "rise", 0.9)], [pos("p1", "B")], PendingOrders(entries=1))
    # hold, enter0, enter1, close0, close1, close_all
    assert mp.action_masks(c).tolist() == [True, False, False, True, False, True]
    assert mp.to_decisions(1, c) == []
    free = ctx([("A", "rise", 0.9)], [pos("p1", "B")])
    assert mp.action_masks(free).tolist() == [True, True, False, True, False, True]


def test_per_signal_mask_offers_enter_when_a_pending_close_frees_the_slot():
    mp = per_signal(max_positions=1)
    c = ctx([("A", "rise", 0.9)], [pos("p1", "B")], PendingOrders(closing=frozenset({"p1"})))
    assert mp.action_masks(c).tolist() == [True, True, False, False, False, False]
    (d,) = mp.to_decisions(1, c)
    assert (d.action, d.pair) == (StrategyAction.ENTER, "A")


def test_per_signal_mask_refuses_close_of_a_position_already_being_closed():
    mp = per_signal(max_positions=3)
    c = ctx([], [pos("p1", "A"), pos("p2", "B")], PendingOrders(closing=frozenset({"p1"})))
    assert mp.action_masks(c).tolist() == [True, False, False, False, True, True]
    assert mp.to_decisions(3, c) == []
    assert [(d.action, d.pair) for d in mp.to_decisions(5, c)] == [(StrategyAction.CLOSE_ALL, "B")]
    both = ctx([], [pos("p1", "A"), pos("p2", "B")], PendingOrders(closing=frozenset({"p1", "p2"})))
    assert mp.action_masks(both).tolist() == [True, False, False, False, False, False]
    assert mp.to_decisions(5, both) == []


def test_simple_mask_follows_the_pending_orders():
    mp = simple(max_positions=1)
    entering = ctx([("A", "rise", 0.9)], [], PendingOrders(entries=1))
    assert mp.action_masks(entering).tolist() == [True, False, False]
    assert mp.to_decisions(1, entering) == []
    closing = ctx([("A", "rise", 0.9)], [pos("p1", "B")], PendingOrders(closing=frozenset({"p1"})))
    assert mp.action_masks(closing).tolist() == [True, True, False]
    assert mp.to_decisions(2, closing) == []


# ------------------------------------------------------------------------- acceptance: the env, fill_at="next_open"
# Bar:      0    1    2    3    4    5
# A:        1    1    1    1    1    1
# B:        1    1    -    1    -    1      (no bar at 2 and 4: B's orders wait there)
# signals:       B    A    .    A
NEXT_OPEN = {"broker": {"fill_at": "next_open", "fee_rate": 0.0}, "sizing": {"max_positions": 1},
             "features": {"top_k_signals": 2, "max_position_features": 2}, "episode": {"length": None}}
# per mapper: (enter the top signal, close the oldest position, close all)
ACTIONS = {"per_signal": (1, 3, 5), "simple": (1, None, 2)}


@pytest.fixture()
def gapped_env(bars, sigs):
    def make(mapper: str) -> SignalFlowEnv:
        raw = bars({"A": [1.0] * 6, "B": [1.0, 1.0, None, 1.0, None, 1.0]})
        signals_frame = sigs([("B", 1, "rise", 0.9), ("A", 2, "rise", 0.8), ("A", 4, "rise", 0.8)])
        return SignalFlowEnv(raw, signals_frame, config={**NEXT_OPEN, "actions": {"mapper": mapper}})
    return make


@pytest.mark.parametrize("mapper", sorted(ACTIONS))
def test_env_next_open_mask_refuses_enter_that_a_pending_entry_makes_impossible(gapped_env, mapper):
    enter, _, _ = ACTIONS[mapper]
    env = gapped_env(mapper)
    env.reset(seed=0, options={"start": 0})
    env.step(0)                                   # bar 0: nothing to do
    assert env.action_masks()[enter]              # bar 1: signal B, a free slot
    env.step(enter)                               # ENTER B: waits for B's next open (bar 3)
    portfolio = env.run.state.portfolio
    assert (portfolio.open_count, portfolio.pending_entries) == (0, 1)
    mask = env.action_masks()                     # bar 2: signal A, but B's entry takes the only slot
    assert not mask[enter]
    _, _, _, _, info = env.step(enter)            # taken anyway: a no-op, not a skipped decision
    assert info["decisions"] == [] and info["skipped"] == []
    assert env.run.state.log.decisions_skipped == 0
    assert (portfolio.open_count, portfolio.pending_entries) == (1, 0)  # B filled at bar 3's open


@pytest.mark.parametrize("mapper", sorted(ACTIONS))
def test_env_next_open_mask_refuses_close_of_a_position_already_being_closed(gapped_env, mapper):
    enter, close, close_all = ACTIONS[mapper]
    env = gapped_env(mapper)
    env.reset(seed=0, options={"start": 0})
    for action in (0, enter, 0):                  # bars 0-2: B entered, filled at bar 3's open
        env.step(action)
    (position,) = env.run.state.portfolio.open_positions()
    assert env.action_masks()[close_all]          # bar 3: B can be closed
    env.step(close_all)                           # its exit waits for B's next open (bar 5)
    assert env.run.state.portfolio.pending_close == {position.id}
    mask = env.action_masks()                     # bar 4: B is still open, its exit pending
    assert not mask[close_all]
    if close is not None:
        assert not mask[close]
    _, _, _, _, info = env.step(close_all)
    assert info["decisions"] == [] and info["skipped"] == [] and info["rejected"] == []
    assert env.run.state.log.decisions_skipped == 0 and env.run.state.log.orders_rejected == 0


def test_env_next_open_mask_offers_enter_into_the_slot_a_pending_close_frees(gapped_env):
    enter, close, _ = ACTIONS["per_signal"]
    env = gapped_env("per_signal")
    env.reset(seed=0, options={"start": 0})
    for action in (0, enter, 0, close):           # bar 3: CLOSE B, pending until bar 5
        env.step(action)
    assert env.action_masks()[enter]              # bar 4: one open, one closing: the slot is free
    _, _, _, _, info = env.step(enter)
    assert [d.pair for d in info["decisions"]] == ["A"] and info["skipped"] == []
    portfolio = env.run.state.portfolio
    assert portfolio.open_count == 1 and portfolio.open_positions()[0].pair == "A"  # B closed, A opened at bar 5


# ------------------------------------------------------------------------- random states: mask == what the action does
@lru_cache(maxsize=None)
def gapped_market() -> MarketData:
    """3 pairs x 200 bars, ~35% of the pair-bars missing, dense signals: orders wait for gaps."""
    m = make_synthetic_market(seed=5, n_pairs=3, n_bars=200, signal_rate=0.3, volatility=0.006, horizon=10)
    keep = np.random.default_rng(5).random(m.raw_data.height) > 0.35
    raw = m.raw_data.filter(pl.Series(keep))
    sigs = m.signals.join(raw.select("pair", "timestamp"), on=["pair", "timestamp"], how="semi")
    return MarketData.build(raw, sigs)


LENGTH = 45
RANDOM_CONFIGS = {
    "per_signal": {"actions": {"mapper": "per_signal"}, "sizing": {"max_positions": 2}},
    "per_signal_shorts": {"actions": {"mapper": "per_signal"},
                          "sizing": {"max_positions": 1, "allow_shorts": True, "min_confidence": 0.4}},
    "simple": {"actions": {"mapper": "simple"}, "sizing": {"max_positions": 1}},
    "simple_shorts": {"actions": {"mapper": "simple"}, "sizing": {"max_positions": 2, "allow_shorts": True}},
}


def _config(overrides: dict) -> EnvConfig:
    return EnvConfig.from_dict({**overrides, "broker": {"fill_at": "next_open"}, "episode": {"length": LENGTH},
                                "features": {"top_k_signals": 3, "max_position_features": 3}})


def _env_at(cfg: EnvConfig, start: int, prefix: list[int]) -> SignalFlowEnv:
    """A copy of the environment's state after `prefix` (replayed: the env is deterministic)."""
    env = SignalFlowEnv(market=gapped_market(), config=cfg)
    env.reset(seed=0, options={"start": start})
    for a in prefix:
        env.step(a)
    return env


def _orders_placed(run, step) -> tuple[int, int]:
    """(orders placed, decisions skipped) by `step()`: every order placed is still queued,
    filled or rejected, so placed = queued after - queued before + filled + rejected."""
    log = run.state.log
    queued, filled, rejected, skipped = len(run.broker.pending_orders), log.orders_filled, log.orders_rejected, log.decisions_skipped
    step()
    placed = len(run.broker.pending_orders) - queued + log.orders_filled - filled + log.orders_rejected - rejected
    return placed, log.decisions_skipped - skipped


class _Agent:
    def decide(self, context):  # pragma: no cover - decisions always come from put_decisions
        raise AssertionError("decisions come from put_decisions")


def _named_decisions(mapper, action: int, context: ModelContext) -> list[StrategyDecision] | None:
    """The decisions `action` names whether or not it is valid (None: it names nothing,
    e.g. a 3rd signal when there are 2)."""
    ranked = context.signals.ranked()
    positions = context.positions
    if isinstance(mapper, SimpleActionMapper):
        kind, i = ("enter", 0) if action == 1 else ("close_all", 0)
    elif action <= mapper.k:
        kind, i = "enter", action - 1
    elif action <= mapper.k + mapper.m:
        kind, i = "close", action - 1 - mapper.k
    else:
        kind, i = "close_all", 0
    if kind == "enter":
        if i >= len(ranked):
            return None
        pair, signal_type, prob = ranked[i]
        return [StrategyDecision(action=StrategyAction.ENTER, pair=pair, confidence=prob,
                                 meta={"direction": "short" if signal_type == "fall" else "long", "reason": "agent"})]
    if kind == "close":
        if i >= len(positions):
            return None
        p = positions[i]
        return [StrategyDecision(action=StrategyAction.CLOSE, pair=p.pair, position_id=p.id, confidence=1.0)]
    pairs = list(dict.fromkeys(p.pair for p in positions))
    return [StrategyDecision(action=StrategyAction.CLOSE_ALL, pair=pair, confidence=1.0) for pair in pairs] or None


def _rules_place_orders(cfg: EnvConfig, start: int, prefix: list[int], decisions: list[StrategyDecision]) -> int:
    """Orders the env's rules (`build_runner`) place for `decisions` after `prefix`, on a replayed run."""
    agent, mapper = _Agent(), make_action_mapper(cfg)
    run = build_runner(cfg, agent).start(gapped_market(), start=start, end=start + LENGTH)
    for a in prefix:
        run.put_decisions(agent, mapper.to_decisions(a, context_with_pending(run.begin_bar(), run.state.portfolio)))
        run.end_bar()
    run.begin_bar()
    run.put_decisions(agent, decisions)
    placed, _ = _orders_placed(run, run.end_bar)
    return placed


def _check_episode(cfg: EnvConfig, seed: int) -> tuple[int, int]:
    """Drive one random episode; at every state check every action against a copy of the env.

    Returns (states with orders pending, states whose mask the pending orders changed)."""
    rng = np.random.default_rng(seed)
    start = int(rng.integers(0, gapped_market().n_bars - LENGTH))
    env = _env_at(cfg, start, [])
    mapper = make_action_mapper(cfg)
    n = env.action_space.n
    prefix: list[int] = []
    seen_pending = changed_by_pending = 0
    for _ in range(LENGTH):
        mask = env.action_masks()
        where = (seed, len(prefix), mask.tolist())
        context = context_with_pending(env.run.context, env.run.state.portfolio)
        if context.pending.entries or context.pending.closing:
            seen_pending += 1
            blind = mapper.action_masks(ModelContext(context.timestamp, context.signals, context.prices,
                                                     context.positions, context.metrics, context.runtime, context.bar_index))
            changed_by_pending += int(not np.array_equal(blind, mask))
        assert mask[0]
        for a in range(1, n):
            copy = _env_at(cfg, start, prefix)
            assert np.array_equal(copy.action_masks(), mask)
            placed, skipped = _orders_placed(copy.run, lambda: copy.step(a))
            # a valid action places an order and is never skipped; an invalid one does nothing
            assert (placed > 0, skipped) == (bool(mask[a]), 0), (a, where)
            named = _named_decisions(mapper, a, context)
            if named is not None and not mask[a]:
                # ... and the rules would have refused the decision it names, too
                assert _rules_place_orders(cfg, start, prefix, named) == 0, (a, named, where)
        valid = np.flatnonzero(mask)
        busy = valid[valid > 0]
        action = int(rng.choice(busy)) if busy.size and rng.random() < 0.8 else int(rng.integers(0, n))
        prefix.append(action)
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            break
    return seen_pending, changed_by_pending


@pytest.mark.parametrize("name", sorted(RANDOM_CONFIGS))
def test_random_states_mask_is_exactly_the_actions_that_place_an_order(name):
    cfg = _config(RANDOM_CONFIGS[name])
    counts = np.array([_check_episode(cfg, seed) for seed in range(4)])
    seen_pending, changed_by_pending = counts.sum(axis=0)
    assert seen_pending > 0, "no state had orders pending: the test would prove nothing"
    assert changed_by_pending > 0, "pending orders never changed a mask: the test would prove nothing"


def test_with_tp_sl_a_valid_action_still_always_places_an_order():
    """A TP/SL exit runs after the agent's exits; it may free a slot the mask did not offer,
    but it never makes a valid action a skipped one."""
    cfg = EnvConfig.from_dict({**_config(RANDOM_CONFIGS["per_signal"]).to_dict(),
                               "exit": {"take_profit_pct": 0.004, "stop_loss_pct": 0.004}})
    rng = np.random.default_rng(3)
    env = _env_at(cfg, 0, [])
    prefix: list[int] = []
    for _ in range(LENGTH):
        mask = env.action_masks()
        for a in np.flatnonzero(mask[1:]) + 1:
            copy = _env_at(cfg, 0, prefix)
            _, _, _, _, info = copy.step(int(a))
            assert info["decisions"] and info["skipped"] == []
        busy = np.flatnonzero(mask[1:]) + 1
        action = int(rng.choice(busy)) if busy.size and rng.random() < 0.8 else 0
        prefix.append(action)
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            break
