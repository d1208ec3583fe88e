"""A deterministic synthetic market with signals that carry a planted, tunable edge.

Prices are a geometric random walk per pair; signals are drawn so that, on average, a
fraction `edge` of them point in the direction of the close-to-close move over the next
`horizon` bars. Everything comes from one `np.random.default_rng(seed)`, so the same
arguments give identical frames. Fully vectorised: 5 pairs x 100,000 bars take a
fraction of a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from signalflow.core.errors import ConfigError

__all__ = ["SyntheticMarket", "make_synthetic_market", "planted_edge_report", "pair_names"]


@dataclass(frozen=True, slots=True)
class SyntheticMarket:
    """Output of `make_synthetic_market`.

    `raw_data`: OHLCV bars (long format, sorted by timestamp then pair, validated form).
    `signals`: signals at bar timestamps (`pair, timestamp, signal_type, probability`),
    known at the close of their bar. `params`: the arguments that generated them.
    """

    raw_data: pl.DataFrame
    signals: pl.DataFrame
    params: dict[str, Any] = field(default_factory=dict)


def pair_names(n_pairs: int) -> list[str]:
    """Pair names "PAIR0USDT", "PAIR1USDT", ...; indices are zero-padded when
    `n_pairs > 10` (e.g. "PAIR07USDT") so lexical order equals index order."""
    width = len(str(max(n_pairs - 1, 0)))
    return [f"PAIR{i:0{width}d}USDT" for i in range(n_pairs)]


def _int(name: str, value: Any, lo: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise ConfigError(f"`{name}` must be an integer >= {lo}, was {value!r}; pass e.g. `{name}={max(lo, 1)}`")


def _float(name: str, value: Any, lo: float | None, hi: float | None, *, lo_open: bool, rule: str, fix: str) -> None:
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value <= hi
    if not ok:
        raise ConfigError(f"`{name}` must be {rule}, was {value!r}; {fix}")


def make_synthetic_market(
    *,
    seed: int = 0,
    n_pairs: int = 3,
    n_bars: int = 5000,
    interval: timedelta = timedelta(minutes=1),
    start: datetime = datetime(2024, 1, 1),
    volatility: float = 0.004,
    drift: float = 0.0,
    signal_rate: float = 0.02,
    edge: float = 0.7,
    horizon: int = 20,
    base_price: float = 100.0,
) -> SyntheticMarket:
    """Generate a synthetic multi-pair market and signals with a planted edge.

    Prices: per-bar log returns ~ N(`drift`, `volatility`) per pair (both per bar, as
    fractions); close = first open x exp(cumsum(returns)); open = previous close, the
    first open is `base_price` x exp(U(-0.5, 0.5)) per pair; high/low = max/min(open,
    close) x (1 +/- |N(0, volatility/2)|); volume ~ lognormal around 1,000 units.
    Bars are at `start + k * interval` (naive UTC), every pair has every bar.

    Signals: each (pair, bar t) with t < n_bars - horizon gets a signal with
    probability `signal_rate`; its `probability` p ~ U(0.5, 1); it is correct (its
    direction matches the sign of close[t+horizon] / close[t] - 1) with probability
    0.5 + (edge - 0.5) * (p - 0.5) / 0.25, so the mean correctness is `edge` and higher
    p is more often right. `edge` must be in [0.5, 0.75] (0.75 makes p = 1 always right).

    Raises `ConfigError` for an out-of-range argument.
    """
    _int("seed", seed, 0)
    _int("n_pairs", n_pairs, 1)
    _int("n_bars", n_bars, 2)
    _int("horizon", horizon, 1)
    if horizon >= n_bars:
        raise ConfigError(
            f"`horizon` must be < n_bars ({n_bars}), was {horizon}; use more bars or a shorter horizon"
        )
    if not isinstance(interval, timedelta) or interval <= timedelta(0):
        raise ConfigError(f"`interval` must be a positive timedelta, was {interval!r}; pass e.g. `timedelta(minutes=1)`")
    if not isinstance(start, datetime) or start.tzinfo is not None:
        raise ConfigError(
            f"`start` must be a naive datetime (UTC), was {start!r}; pass e.g. `datetime(2024, 1, 1)` "
            f"or `start.astimezone(timezone.utc).replace(tzinfo=None)`"
        )
    _float("volatility", volatility, 0.0, 0.5, lo_open=True, rule="in (0, 0.5] (per-bar log-return std)",
           fix="typical 1-minute values are 0.001-0.01")
    _float("drift", drift, -0.1, 0.1, lo_open=False, rule="finite in [-0.1, 0.1] (per-bar mean log return)",
           fix="use a small value such as 0.0 or 1e-5")
    _float("signal_rate", signal_rate, 0.0, 1.0, lo_open=False, rule="in [0, 1] (signals per pair per bar)",
           fix="pass e.g. `signal_rate=0.02`")
    _float("edge", edge, 0.5, 0.75, lo_open=False,
           rule="in [0.5, 0.75] (mean fraction of correct signals)",
           fix="0.5 means no edge; above 0.75 the correctness of p=1 signals would exceed 1")
    _float("base_price", base_price, 0.0, None, lo_open=True, rule="finite and > 0", fix="pass e.g. `base_price=100.0`")

    rng = np.random.default_rng(seed)
    names = pair_names(n_pairs)
    shape = (n_bars, n_pairs)  # time-major: ravel() gives rows sorted by (timestamp, pair)

    first_open = base_price * np.exp(rng.uniform(-0.5, 0.5, size=n_pairs))
    log_ret = rng.normal(drift, volatility, size=shape)
    close = first_open * np.exp(np.cumsum(log_ret, axis=0))
    open_ = np.empty(shape)
    open_[0] = first_open
    open_[1:] = close[:-1]
    wick = np.minimum(np.abs(rng.normal(0.0, volatility / 2.0, size=(2, *shape))), 0.5)
    high = np.maximum(open_, close) * (1.0 + wick[0])
    low = np.minimum(open_, close) * (1.0 - wick[1])
    volume = rng.lognormal(mean=math.log(1000.0), sigma=0.5, size=shape)

    ts0 = np.datetime64(start, "us")
    step = np.timedelta64(interval // timedelta(microseconds=1), "us")
    times = ts0 + np.arange(n_bars) * step

    raw = pl.DataFrame(
        {
            "pair": np.tile(np.array(names, dtype=object), n_bars),
            "timestamp": np.repeat(times, n_pairs),
            "open": open_.ravel(),
            "high": high.ravel(),
            "low": low.ravel(),
            "close": close.ravel(),
            "volume": volume.ravel(),
        },
        schema={
            "pair": pl.String,
            "timestamp": pl.Datetime("us"),
            "open": pl.Float64,
            "high": pl.Float64,
            "low": pl.Float64,
            "close": pl.Float64,
            "volume": pl.Float64,
        },
    )

    n_sig_bars = n_bars - horizon
    has_signal = rng.random((n_sig_bars, n_pairs)) < signal_rate
    t_idx, p_idx = np.nonzero(has_signal)  # row-major: sorted by bar, then pair
    n = t_idx.size
    prob = rng.uniform(0.5, 1.0, size=n)
    p_correct = np.clip(0.5 + (edge - 0.5) * (prob - 0.5) / 0.25, 0.0, 1.0)
    correct = rng.random(n) < p_correct
    up = close[t_idx + horizon, p_idx] > close[t_idx, p_idx]
    rise = up == correct  # (up and correct) or (down and incorrect)
    signals = pl.DataFrame(
        {
            "pair": np.array(names, dtype=object)[p_idx],
            "timestamp": times[t_idx],
            "signal_type": np.where(rise, "rise", "fall").astype(object),
            "probability": prob,
        },
        schema={"pair": pl.String, "timestamp": pl.Datetime("us"), "signal_type": pl.String, "probability": pl.Float64},
    )

    params = dict(
        seed=seed, n_pairs=n_pairs, n_bars=n_bars, interval=interval, start=start, volatility=volatility,
        drift=drift, signal_rate=signal_rate, edge=edge, horizon=horizon, base_price=base_price, pairs=names,
    )
    return SyntheticMarket(raw_data=raw, signals=signals, params=params)


def planted_edge_report(market: SyntheticMarket, *, fee_rate: float = 0.001) -> dict[str, float]:
    """Measure the planted edge on the generated data.

    For every signal at bar t, the gross `horizon`-bar return r = close[t+horizon] /
    close[t] - 1 (a fraction, close to close); "rise" earns +r, "fall" earns -r.
    Returns `n_signals`, `fraction_correct` (direction matches the sign of r),
    `mean_signed_return` (gross edge per trade), `mean_abs_return`, `horizon`,
    `round_trip_fee` (= 2 x `fee_rate`) and `net_edge_per_trade` (gross minus
    round-trip fee, ignoring slippage and sizing).
    """
    horizon = int(market.params["horizon"])
    fut = market.raw_data.select(
        "pair",
        "timestamp",
        "close",
        pl.col("close").shift(-horizon).over("pair").alias("future_close"),
    )
    joined = market.signals.join(fut, on=["pair", "timestamp"], how="inner").filter(
        pl.col("signal_type") != "none", pl.col("future_close").is_not_null()
    )
    direction = pl.when(pl.col("signal_type") == "rise").then(1.0).otherwise(-1.0)
    ret = pl.col("future_close") / pl.col("close") - 1.0
    stats = joined.select(
        pl.len().alias("n_signals"),
        ((ret * direction) > 0).mean().alias("fraction_correct"),
        (ret * direction).mean().alias("mean_signed_return"),
        ret.abs().mean().alias("mean_abs_return"),
    ).row(0, named=True)
    n = int(stats["n_signals"])
    gross = float(stats["mean_signed_return"]) if n else float("nan")
    return {
        "n_signals": float(n),
        "fraction_correct": float(stats["fraction_correct"]) if n else float("nan"),
        "mean_signed_return": gross,
        "mean_abs_return": float(stats["mean_abs_return"]) if n else float("nan"),
        "horizon": float(horizon),
        "round_trip_fee": 2.0 * fee_rate,
        "net_edge_per_trade": gross - 2.0 * fee_rate,
    }
