"""Training-time market augmentation: the mirrored market (rises become falls, signals flip).

`mirror_market(market)` returns a `MarketData` on the same bars and timestamps in which
every pair's prices are reflected in log space about the pair's first open ``p0``:

    open' = p0**2 / open,  close' = p0**2 / close,  high' = p0**2 / low,  low' = p0**2 / high

(``log p' = 2 log p0 - log p``: a bar that rose by x% in log terms falls by the same log
amount; high and low swap so that low' <= open', close' <= high' still holds). The last
close `mark` is mirrored the same way; an optional `spread` (quote currency) is scaled by
``close' / close`` so that the spread as a share of the price is unchanged; volumes,
timestamps and which pairs have a bar are unchanged. Every signal's ``signal_type`` is
flipped ("rise" <-> "fall"; anything else, e.g. "none", is kept), its other columns are kept.

Because a signal's direction and the sign of the move after it flip together, a signal
is right in the mirror exactly when it is right in the original: the planted edge is the
same, a drift of the window is reversed. `SignalFlowEnv` uses it with `augment.mirror`
(training episodes only; evaluation and the bridge never see a mirrored market).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl

from signalflow.core.signals import BarSignalsFrame, Signals
from signalflow.data.market import MarketData

__all__ = ["MIRRORED_SIGNAL_TYPES", "mirror_market", "mirror_signals", "mirror_reference_prices"]

#: How `mirror_signals` maps a signal type; types not listed are kept.
MIRRORED_SIGNAL_TYPES: dict[str, str] = {"rise": "fall", "fall": "rise"}


def mirror_reference_prices(market: MarketData) -> np.ndarray:
    """``p0`` per pair ([P], quote currency): the open of the pair's first bar in `market`."""
    first = np.argmax(market.has_bar, axis=0)  # each pair has at least one bar (it is in `pairs`)
    return np.asarray(market.open[first, np.arange(market.n_pairs)], dtype=np.float64)


def mirror_signals(signals: pl.DataFrame) -> pl.DataFrame:
    """`signals` with "rise" and "fall" swapped in ``signal_type``; rows and other columns unchanged."""
    if signals.height == 0 or "signal_type" not in signals.columns:
        return signals
    flipped = pl.col("signal_type").replace(MIRRORED_SIGNAL_TYPES)
    return signals.with_columns(flipped.alias("signal_type"))


def _read_only(array: np.ndarray) -> np.ndarray:
    out = np.asfortranarray(array)
    out.flags.writeable = False
    return out


def mirror_market(market: MarketData) -> MarketData:
    """The mirrored `market` (see the module docstring); `market` itself is not changed."""
    p0_squared = mirror_reference_prices(market) ** 2  # [P], broadcast over bars

    def reflect(prices: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):  # NaN where a pair has no bar stays NaN
            return _read_only(p0_squared / prices)

    close = reflect(market.close)
    spread = market.spread
    if spread is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            spread = _read_only(spread * (close / market.close))
    signals = mirror_signals(market.signals)
    return dataclasses.replace(
        market,
        open=reflect(market.open),
        high=reflect(market.low),
        low=reflect(market.high),
        close=close,
        mark=reflect(market.mark),
        spread=spread,
        signals=signals,
        no_signals=Signals(BarSignalsFrame(signals.head(0), ())),
    )
