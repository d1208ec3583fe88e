"""`PriceMap`: the read-only `pair -> price` mapping a `ModelContext` carries."""

from __future__ import annotations

from typing import Any, NoReturn

__all__ = ["PriceMap"]


class PriceMap(dict):
    """A dict that refuses changes: the closes of the pairs that have a bar now.

    One map per bar is built once and shared by every run over the same market,
    so it must not change. Reads (`prices["BTC"]`, `.get`, `in`, iteration) are
    plain dict reads; changes raise `TypeError` (copy it with `dict(prices)`).
    Unlike `types.MappingProxyType` it pickles and deep-copies.
    """

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(
            "context.prices is read-only (shared by every run over this market); copy it with dict(context.prices)"
        )

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        return (PriceMap, (dict(self),))

    def __copy__(self) -> "PriceMap":
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> "PriceMap":
        return self  # immutable
