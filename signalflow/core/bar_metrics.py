"""`BarMetrics`: the portfolio metrics of one bar, as a read-only mapping.

The runner measures the portfolio at least once per bar; building an 18-key
dict each time would cost more than the rest of the bar's bookkeeping, so the
values live in one list and this mapping reads them by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator

__all__ = ["METRIC_NAMES", "BarMetrics"]

#: Keys of `StrategyState.metrics` and columns of `metrics_df` (after `timestamp`).
#: Money is in quote currency; fractions are plain floats (0.05 == 5%).
METRIC_NAMES: tuple[str, ...] = (
    "equity",            # cash + marked value of open positions
    "cash",              # free cash (collateral of shorts is not free)
    "positions_value",   # marked value of open positions (long: qty*price; short: collateral + unrealised PnL)
    "gross_exposure",    # sum of |qty*price| of open positions
    "exposure",          # gross_exposure / equity
    "total_return",      # equity / initial_capital - 1
    "peak_equity",       # running maximum of equity
    "current_drawdown",  # 1 - equity / peak_equity (>= 0)
    "max_drawdown",      # running maximum of current_drawdown
    "open_positions",    # number of open positions
    "realized_pnl",      # cumulative gross realised PnL of closed positions (fees excluded)
    "unrealized_pnl",    # gross unrealised PnL of open positions
    "fees_paid",         # cumulative fees of all fills
    "trades_closed",     # cumulative number of closed positions
    "orders_filled",     # cumulative filled orders
    "orders_rejected",   # cumulative orders rejected (no cash, no price, ...)
    "orders_reduced",    # cumulative entry orders reduced to fit the available cash
    "decisions_skipped", # cumulative decisions skipped (unknown position, no price, below confidence, ...)
)



_INDEX: dict[str, int] = {name: i for i, name in enumerate(METRIC_NAMES)}


class BarMetrics(Mapping):
    """Read-only mapping of `METRIC_NAMES` to this bar's values.

    Behaves like a dict for reading (`m["equity"]`, `m.get("max_drawdown", 0)`,
    iteration in `METRIC_NAMES` order, `dict(m)`); `to_dict()` gives a plain
    dict, e.g. for JSON. Counts (`open_positions`, `orders_filled`, ...) are ints.
    """

    __slots__ = ("values_list",)

    def __init__(self, values: tuple[Any, ...] | list[Any]) -> None:
        if len(values) != len(METRIC_NAMES):
            raise ValueError(f"`values` must have {len(METRIC_NAMES)} entries (METRIC_NAMES), was {len(values)}")
        self.values_list = values

    def __getitem__(self, key: str) -> Any:
        return self.values_list[_INDEX[key]]

    def get(self, key: str, default: Any = None) -> Any:
        i = _INDEX.get(key)
        return default if i is None else self.values_list[i]

    def __contains__(self, key: object) -> bool:
        return key in _INDEX

    def __iter__(self) -> Iterator[str]:
        return iter(METRIC_NAMES)

    def __len__(self) -> int:
        return len(METRIC_NAMES)

    def to_dict(self) -> dict[str, Any]:
        return dict(zip(METRIC_NAMES, self.values_list))

    def __repr__(self) -> str:
        return f"BarMetrics({self.to_dict()!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, BarMetrics):
            return self.values_list == other.values_list
        return Mapping.__eq__(self, other)

    __hash__ = None  # type: ignore[assignment]
