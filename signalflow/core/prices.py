"""`PriceMap`: the read-only `pair -> price` mapping a `ModelContext` carries."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, NoReturn

__all__ = ["PriceMap"]

_READ_ONLY = "context.prices is read-only (the bar's own prices); copy it with dict(context.prices)"


class PriceMap(Mapping):
    """A read-only mapping: the closes of the pairs that have a bar now.

    Reads (`prices["BTC"]`, `.get`, `in`, iteration, `dict(prices)`, `==`) work as on a
    dict; changes raise `TypeError` (copy it with `dict(prices)`). It pickles and
    deep-copies. `PriceMap(build=f)` makes one whose table is built by `build()`
    on first read, so a bar whose prices nobody reads costs nothing.
    """

    __slots__ = ("_table", "_build")

    def __init__(self, table: Mapping[str, float] | None = None, *, build: Callable[[], dict[str, float]] | None = None) -> None:
        if table is not None and build is not None:
            raise TypeError("give PriceMap either `table` or `build`, not both")
        self._table: dict[str, float] | None = None if build is not None else dict(table or {})
        self._build = build

    def _read(self) -> dict[str, float]:
        table = self._table
        if table is None:
            table = self._table = self._build()
            self._build = None
        return table

    def __getitem__(self, pair: str) -> float:
        return self._read()[pair]

    def get(self, pair: str, default: Any = None) -> Any:
        return self._read().get(pair, default)

    def __contains__(self, pair: object) -> bool:
        return pair in self._read()

    def __iter__(self) -> Iterator[str]:
        return iter(self._read())

    def __len__(self) -> int:
        return len(self._read())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._read() == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PriceMap({self._read()!r})"

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(_READ_ONLY)

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        return (PriceMap, (dict(self._read()),))

    def __copy__(self) -> "PriceMap":
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> "PriceMap":
        return self  # immutable
