"""Fee models: what a fill costs in quote currency.

An executor takes one fee model (`VirtualSpotExecutor(fee=...)`); `fee_rate=0.001` is
shorthand for `ProportionalFee(0.001)`. A fee model answers two questions:

- `fee(pair, qty, price)`: the fee of a fill of `qty` base units at fill `price`, charged in
  quote currency from cash when the fill is applied (entries and exits alike);
- `max_notional(pair, budget, margin_rate=1.0)`: the largest notional `n` whose cash need fits
  in `budget` with its own fee, ``n * margin_rate + fee(pair, n / price, price) <= budget``
  (`margin_rate` is the share of the notional paid in cash: 1 on spot, ``1 / leverage`` on a
  margin account; the fees here depend on the notional only, so the price cancels out).
  Executors use it to shrink an entry that the free cash (or margin) cannot pay for.

Every model is a small frozen object; build your own by implementing both methods.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from signalflow.core.errors import ConfigError
from signalflow.core.values import is_finite_real

__all__ = ["FeeModel", "ProportionalFee", "FixedFee", "PerPairFee", "check_fee_model"]

#: A budget is shrunk by this relative margin so that rounding never makes cost > budget.
_SAFETY = 1.0 - 1e-12


@runtime_checkable
class FeeModel(Protocol):
    """What a fill costs (quote currency); see the module docstring."""

    def fee(self, pair: str, qty: float, price: float) -> float: ...

    def max_notional(self, pair: str, budget: float, margin_rate: float = 1.0) -> float: ...


def _check_amount(name: str, value: object, *, hi: float | None = None, fix: str) -> float:
    if not is_finite_real(value) or value < 0:
        raise ConfigError(f"`{name}` must be a finite number >= 0, was {value!r}; {fix}")
    if hi is not None and not value < hi:
        raise ConfigError(f"`{name}` must be below {hi:g}, was {value!r}; {fix}")
    return float(value)


@dataclass(frozen=True, slots=True)
class ProportionalFee:
    """``max(rate * qty * price, minimum)`` per fill: a share of the traded notional
    (0.001 == 0.1%, 10 bps), with an optional minimum per fill in quote currency."""

    rate: float = 0.001
    minimum: float = 0.0

    def __post_init__(self) -> None:
        # numpy scalars are stored as Python floats (np.float32 arithmetic would round the books)
        object.__setattr__(self, "rate", _check_amount("rate", self.rate, hi=0.1, fix="use a fraction per fill, e.g. 0.001 (0.1%)"))
        object.__setattr__(self, "minimum", _check_amount("minimum", self.minimum, fix="use quote currency per fill, e.g. 1.0"))

    def fee(self, pair: str, qty: float, price: float) -> float:
        fee = qty * price * self.rate
        return fee if fee >= self.minimum else self.minimum

    def max_notional(self, pair: str, budget: float, margin_rate: float = 1.0) -> float:
        limit = budget / (margin_rate + self.rate) * _SAFETY
        if self.minimum and limit * self.rate < self.minimum:  # the minimum applies
            limit = (budget - self.minimum) / margin_rate * _SAFETY
        return limit


@dataclass(frozen=True, slots=True)
class FixedFee:
    """`amount` quote currency per fill, whatever its size."""

    amount: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", _check_amount("amount", self.amount, fix="use quote currency per fill, e.g. 1.0"))

    def fee(self, pair: str, qty: float, price: float) -> float:
        return self.amount

    def max_notional(self, pair: str, budget: float, margin_rate: float = 1.0) -> float:
        return (budget - self.amount) / margin_rate * _SAFETY


class PerPairFee:
    """`overrides[pair]` for the pairs it names, `default` for every other pair."""

    __slots__ = ("default", "overrides")

    def __init__(self, default: FeeModel | None = None, overrides: Mapping[str, FeeModel] | None = None) -> None:
        default = ProportionalFee() if default is None else default
        check_fee_model("default", default)
        overrides = {} if overrides is None else overrides
        if not isinstance(overrides, Mapping):
            raise ConfigError(f"`overrides` must map pair -> fee model, was {type(overrides).__name__}")
        for pair, model in overrides.items():
            if not isinstance(pair, str):
                raise ConfigError(f"`overrides` keys must be pair names (str), was {pair!r}")
            check_fee_model(f"overrides[{pair!r}]", model)
        self.default = default
        self.overrides: dict[str, FeeModel] = dict(overrides)

    def model_for(self, pair: str) -> FeeModel:
        """The fee model that prices `pair`."""
        return self.overrides.get(pair, self.default)

    def fee(self, pair: str, qty: float, price: float) -> float:
        return self.model_for(pair).fee(pair, qty, price)

    def max_notional(self, pair: str, budget: float, margin_rate: float = 1.0) -> float:
        return self.model_for(pair).max_notional(pair, budget, margin_rate)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PerPairFee):
            return NotImplemented
        return self.default == other.default and self.overrides == other.overrides

    def __repr__(self) -> str:
        return f"PerPairFee(default={self.default!r}, overrides={self.overrides!r})"


def check_fee_model(name: str, model: object) -> FeeModel:
    """`model` if it is a fee model (has `fee` and `max_notional`), else a `ConfigError`."""
    if not isinstance(model, FeeModel):
        raise ConfigError(
            f"`{name}` must be a fee model (an object with fee(pair, qty, price) and max_notional(pair, budget, margin_rate), "
            f"e.g. ProportionalFee(0.001)), was {type(model).__name__}: {model!r}"
        )
    return model
