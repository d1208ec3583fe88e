"""`FeatureBuilder`: a `ModelContext` -> a fixed-length float32 observation.

Pure: the vector depends on the context only (metrics, signals, positions,
runtime, bar index), never on the environment, so the SB3 bridge reuses it
unchanged at backtest time. Following the integration guide's principle the
features are signals and portfolio metrics, not raw prices.

Layout (``feature_names`` lists it; every value is clipped into its bounds):

==========================  =========  ======  =====================================================
name                        min        max     meaning
==========================  =========  ======  =====================================================
portfolio.total_return      -1         10      equity / initial capital - 1
portfolio.cash_fraction     0          2       cash / equity (shorts lock collateral, so it can pass 1)
portfolio.current_drawdown  0          1       1 - equity / peak equity
portfolio.max_drawdown      0          1       running maximum of current_drawdown
portfolio.open_fraction     0          1       open positions / `sizing.max_positions`
portfolio.exposure          0          10      gross exposure / equity
signal{k}.probability       0          1       k-th signal of the bar by probability (0 if absent)
signal{k}.direction         -1         1       +1 "rise", -1 "fall", 0 "none" or absent
signal{k}.held              0          1       1 if a position in the signal's pair is open
position{m}.pnl             -1         10      unrealised return of the m-th open position (oldest first)
position{m}.bars_held       0          1       bars since entry / `features.bars_held_scale`, capped at 1
position{m}.side            -1         1       +1 long, -1 short, 0 absent
runtime.{name}              -clip      clip    float(context.runtime[name]) (0 if absent or not finite)
==========================  =========  ======  =====================================================

Direction-invariant layout (``features.direction_invariant: true``): the same length, with
every signal and position feature expressed relative to the side a trade takes, so that
flipping the market (rise <-> fall, long <-> short) leaves the observation unchanged and
the policy cannot learn to prefer a side. A signal's *trade side* is +1 (long) for "rise"
and "none", -1 (short) for "fall", as `ModelEntryRule` opens them; the *top side* is
signal0's trade side. The three columns that carry a sign are replaced:

==========================  =========  ======  =====================================================
signal{k}.agrees_with_top   -1         1       +1 same trade side as signal0, -1 opposite, 0 absent
                                               (signal0 itself: 1 if present)
signal{k}.held_side         -1         1       mean over open positions in the signal's pair of +1
                                               (on the signal's trade side) / -1 (opposite); 0 none
position{m}.with_top        -1         1       +1 on the top side, -1 opposite, 0 absent or no
                                               signal this bar
==========================  =========  ======  =====================================================

``position{m}.pnl`` is already in the position's own direction and ``bars_held`` has no
sign, so both stay; the portfolio block has no direction. ``runtime.{name}`` values are
the caller's and are passed through unchanged (multiply a directional one by the
signal's side before putting it in ``context.runtime``).

``position{m}.pnl`` is the return at the price the position is marked at (the bar's close
for a pair with a bar). A position that an intrabar stop closes later in the same bar, before
the bridge's model decides inside the backtest, keeps that price in the observation (the
context's close of its pair, not the stop level), so the environment and `RLTradingModel` see
the same observation.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from gymnasium import spaces

from signalflow.core.bar_metrics import metric_reader
from signalflow.core.enums import PositionType
from signalflow.strategy.model.context import ModelContext
from signalflow_gym.config import FeaturesConfig, SizingConfig

__all__ = [
    "FeatureBuilder",
    "PORTFOLIO_FEATURES",
    "SIGNAL_FEATURES",
    "POSITION_FEATURES",
    "INVARIANT_SIGNAL_FEATURES",
    "INVARIANT_POSITION_FEATURES",
]

PORTFOLIO_FEATURES: tuple[tuple[str, float, float], ...] = (
    ("total_return", -1.0, 10.0),
    ("cash_fraction", 0.0, 2.0),
    ("current_drawdown", 0.0, 1.0),
    ("max_drawdown", 0.0, 1.0),
    ("open_fraction", 0.0, 1.0),
    ("exposure", 0.0, 10.0),
)
SIGNAL_FEATURES: tuple[tuple[str, float, float], ...] = (("probability", 0.0, 1.0), ("direction", -1.0, 1.0), ("held", 0.0, 1.0))
POSITION_FEATURES: tuple[tuple[str, float, float], ...] = (("pnl", -1.0, 10.0), ("bars_held", 0.0, 1.0), ("side", -1.0, 1.0))
INVARIANT_SIGNAL_FEATURES: tuple[tuple[str, float, float], ...] = (
    ("probability", 0.0, 1.0),
    ("agrees_with_top", -1.0, 1.0),
    ("held_side", -1.0, 1.0),
)
INVARIANT_POSITION_FEATURES: tuple[tuple[str, float, float], ...] = (
    ("pnl", -1.0, 10.0),
    ("bars_held", 0.0, 1.0),
    ("with_top", -1.0, 1.0),
)

_DIRECTION = {"rise": 1.0, "fall": -1.0}
_LONG = PositionType.LONG


def _trade_side(signal_type: str) -> float:
    """+1 (long) for "rise" and "none", -1 (short) for "fall": the side `ModelEntryRule` opens."""
    return -1.0 if signal_type == "fall" else 1.0


#: The metrics the portfolio block is built from, read in one call per observation.
_read_portfolio_metrics = metric_reader("equity", "total_return", "cash", "current_drawdown", "max_drawdown", "exposure")


class FeatureBuilder:
    """Maps a `ModelContext` to a float32 vector of length ``len(feature_names)``.

    `build(context)` returns a fresh array on every call (never a shared buffer).
    `pairs` (the market's pairs) is kept for feature sets that need a fixed pair
    order; the default features do not depend on it.
    """

    def __init__(self, features: FeaturesConfig, sizing: SizingConfig, pairs: Sequence[str] = ()) -> None:
        self.config = features
        self.pairs = tuple(pairs)
        self.top_k = features.top_k_signals
        self.max_pos = features.max_position_features
        self.runtime_names = features.runtime_features
        self._inv_max_positions = 1.0 / sizing.max_positions
        self._inv_bars = 1.0 / features.bars_held_scale
        self._rclip = features.runtime_clip
        self.direction_invariant = features.direction_invariant
        signal_table = INVARIANT_SIGNAL_FEATURES if self.direction_invariant else SIGNAL_FEATURES
        position_table = INVARIANT_POSITION_FEATURES if self.direction_invariant else POSITION_FEATURES
        names: list[str] = []
        lows: list[float] = []
        highs: list[float] = []

        def add(prefix: str, table: tuple[tuple[str, float, float], ...]) -> None:
            for n, lo, hi in table:
                names.append(f"{prefix}.{n}")
                lows.append(lo)
                highs.append(hi)

        add("portfolio", PORTFOLIO_FEATURES)
        for k in range(self.top_k):
            add(f"signal{k}", signal_table)
        for m in range(self.max_pos):
            add(f"position{m}", position_table)
        for n in self.runtime_names:
            names.append(f"runtime.{n}")
            lows.append(-self._rclip)
            highs.append(self._rclip)
        self.feature_names: tuple[str, ...] = tuple(names)
        self.observation_space = spaces.Box(
            low=np.asarray(lows, dtype=np.float32), high=np.asarray(highs, dtype=np.float32), dtype=np.float32
        )
        self._signal_zeros = [0.0] * (3 * self.top_k)
        self._position_zeros = [0.0] * (3 * self.max_pos)
        self._zeros = np.zeros(len(names), dtype=np.float32)

    @property
    def size(self) -> int:
        return len(self.feature_names)

    def build(self, context: ModelContext) -> np.ndarray:
        """The observation for `context` (float32, inside `observation_space`)."""
        positions = context.positions
        ranked = context.signals.ranked()
        equity, tr, cash, dd, mdd, exposure = _read_portfolio_metrics(context.metrics)
        cash_frac = cash / equity if equity > 0.0 else 0.0
        tr = -1.0 if tr < -1.0 else (10.0 if tr > 10.0 else tr)
        cash_frac = 0.0 if cash_frac < 0.0 else (2.0 if cash_frac > 2.0 else cash_frac)
        dd = 0.0 if dd < 0.0 else (1.0 if dd > 1.0 else dd)
        mdd = 0.0 if mdd < 0.0 else (1.0 if mdd > 1.0 else mdd)
        exposure = 0.0 if exposure < 0.0 else (10.0 if exposure > 10.0 else exposure)
        if not ranked and not positions and not self.runtime_names:
            # Fast path (most bars): copy a zero template and set the portfolio block.
            out = self._zeros.copy()
            out[0] = tr
            out[1] = cash_frac
            out[2] = dd
            out[3] = mdd
            out[5] = exposure
            return out
        n_open = len(positions) * self._inv_max_positions
        row = [tr, cash_frac, dd, mdd, 1.0 if n_open > 1.0 else n_open, exposure]
        if self.direction_invariant:
            self._fill_invariant_signals(row, ranked, positions)
            self._fill_positions(row, positions, context, top_side=_trade_side(ranked[0][1]) if ranked else 0.0)
        else:
            self._fill_signals(row, ranked, positions)
            self._fill_positions(row, positions, context)
        if self.runtime_names:
            self._fill_runtime(row, context.runtime)
        return np.array(row, dtype=np.float32)

    def _fill_signals(self, row: list[float], ranked: list[tuple[str, str, float]], positions: list[Any]) -> None:
        k = self.top_k
        if not k:
            return
        if not ranked:
            row += self._signal_zeros
            return
        held = {p.pair for p in positions}
        for pair, signal_type, prob in ranked[:k]:
            row.append(min(max(prob, 0.0), 1.0))
            row.append(_DIRECTION.get(signal_type, 0.0))
            row.append(1.0 if pair in held else 0.0)
        missing = k - len(ranked)
        if missing > 0:
            row += self._signal_zeros[: 3 * missing]

    def _fill_positions(
        self, row: list[float], positions: list[Any], context: ModelContext, top_side: float | None = None
    ) -> None:
        """Per position: return in its own direction at its `last_price` (for a position closed
        since the context was made, the context's price of its pair: the bar's close), bars held,
        and its side (+1 long / -1 short), or with `top_side` (direction-invariant features) the
        side relative to the top signal's."""
        n = self.max_pos
        if not n:
            return
        inv_bars = self._inv_bars
        bar, prices = context.bar_index, context.prices
        for p in positions[:n]:
            long = p.position_type is _LONG
            price = p.last_price
            if p.is_closed:  # closed later in this bar (an intrabar stop): its price at the close, as before
                price = prices.get(p.pair, price)
            ret = price / p.entry_price - 1.0
            if not long:
                ret = -ret
            row.append(-1.0 if ret < -1.0 else (10.0 if ret > 10.0 else ret))
            row.append(min(max((bar - p.entry_bar) * inv_bars, 0.0), 1.0))
            if top_side is None:
                row.append(1.0 if long else -1.0)
            else:
                row.append(top_side if long else 0.0 - top_side)  # 0.0 - x: no -0.0
        missing = n - len(positions)
        if missing > 0:
            row += self._position_zeros[: 3 * missing]

    def _fill_invariant_signals(self, row: list[float], ranked: list[tuple[str, str, float]], positions: list[Any]) -> None:
        k = self.top_k
        if not k:
            return
        if not ranked:
            row += self._signal_zeros
            return
        sides: dict[str, list[float]] = {}
        for p in positions:
            sides.setdefault(p.pair, []).append(1.0 if p.position_type is _LONG else -1.0)
        top_side = _trade_side(ranked[0][1])
        for pair, signal_type, prob in ranked[:k]:
            side = _trade_side(signal_type)
            row.append(min(max(prob, 0.0), 1.0))
            row.append(side * top_side)
            held = sides.get(pair)
            row.append(side * sum(held) / len(held) if held else 0.0)
        missing = k - len(ranked)
        if missing > 0:
            row += self._signal_zeros[: 3 * missing]

    def _fill_runtime(self, row: list[float], runtime: dict[str, Any]) -> None:
        c = self._rclip
        for name in self.runtime_names:
            v = runtime.get(name, 0.0)
            try:
                v = float(v)
            except (TypeError, ValueError):
                v = 0.0
            if not math.isfinite(v):
                v = 0.0
            row.append(-c if v < -c else (c if v > c else v))
