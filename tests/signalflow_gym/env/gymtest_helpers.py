"""Helpers of the `signalflow_gym` tests: one small synthetic market (built once), accounting checks."""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

from signalflow.data.synthetic import make_synthetic_market
from signalflow.strategy.runner.market_data import MarketData

ROOT = Path(__file__).resolve().parents[3]
ENV_CONFIGS = sorted((ROOT / "configs").glob("env_*.yaml"))


@lru_cache(maxsize=None)
def small_synthetic():
    """3 pairs x 600 one-minute bars with a 5% signal rate (rise and fall signals)."""
    return make_synthetic_market(seed=11, n_pairs=3, n_bars=600, signal_rate=0.05, volatility=0.006, horizon=10)


@lru_cache(maxsize=None)
def small_market_data() -> MarketData:
    m = small_synthetic()
    return MarketData.build(m.raw_data, m.signals)


def check_accounting(state, initial_capital: float) -> None:
    """equity == cash + marked value of open positions; initial + realised + unrealised - fees == equity."""
    pf = state.portfolio
    open_positions = pf.open_positions()
    equity = pf.equity
    assert math.isclose(equity, pf.cash + sum(p.market_value for p in open_positions), rel_tol=1e-9, abs_tol=1e-9)
    unrealized = sum(p.unrealized_pnl for p in open_positions)
    assert math.isclose(initial_capital + pf.realized_pnl + unrealized - pf.fees_paid, equity, rel_tol=1e-9, abs_tol=1e-7)
    assert math.isclose(state.metrics["equity"], equity, rel_tol=1e-9, abs_tol=1e-9)


def roll_observations(env, obs, policy) -> list:
    """Every observation of the rest of `env`'s episode from `obs` on, acting `policy(obs, mask)`."""
    seen = [obs]
    while True:
        obs, _, terminated, truncated, _ = env.step(policy(obs, env.action_masks()))
        seen.append(obs)
        if terminated or truncated:
            return seen


def enter_when_possible(obs, mask) -> int:
    """Action 1 (ENTER the top signal) when the mask allows it, else HOLD."""
    return 1 if mask[1] else 0
