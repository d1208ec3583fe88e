"""`Signals`: a thin, immutable wrapper around a polars DataFrame of signals."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

__all__ = ["Signals", "SIGNAL_COLUMNS", "BarSignalsFrame"]

#: Required columns; extra columns (detector outputs, features) are kept.
SIGNAL_COLUMNS: tuple[str, ...] = ("pair", "timestamp", "signal_type", "probability")


_READ_ONLY = (
    "a bar's signals frame (context.signals.value) is shared by every run over this market and is "
    "read-only; {what} would change it in place. Work on a copy: frame = context.signals.value.clone()"
)


class BarSignalsFrame:
    """One bar's signals as a read-only polars-like frame (`ModelContext.signals.value`).

    It wraps the bar's rows of the market's signals frame; it is not a `pl.DataFrame`
    subclass. Everything that reads works as on polars: `iter_rows`, `rows`, `height`,
    `columns` and `len()` are answered from the wrapped rows; any other attribute or
    indexing (`filter`, `select`, `df["pair"]`, `equals`, `to_pandas`, ...) is answered
    by the frame itself (`to_frame()`, a zero-copy slice made on first use), so derived
    frames are ordinary, mutable polars frames.

    - `iter_rows()` yields rows read once per market (models iterate the bar's signals
      on every bar; polars would convert them again each time). Named rows are fresh
      dicts on every call. Frames with nested columns (lists, structs, objects) are
      converted afresh each time, as polars does, since their values are mutable.
    - In-place changes (`df[0, "probability"] = ...`, `insert_column`, `extend`,
      `hstack(in_place=True)`, ...) raise `TypeError`: the rows are shared by every run
      over the market. Work on a copy: `clone()`.
    """

    __slots__ = ("_source", "_offset", "_length", "_frame", "_rows", "_columns")

    def __init__(
        self,
        frame: pl.DataFrame,
        rows: Sequence[tuple] | None = None,
        *,
        offset: int = 0,
        length: int | None = None,
        columns: Sequence[str] | None = None,
    ) -> None:
        """View rows ``[offset, offset + length)`` of `frame` (all of it by default) read-only,
        with no copy; the slice itself is made on first use of a polars method.

        `rows`: those rows as tuples (`frame.rows()`), if the caller has them, which is only
        right for frames without nested columns; otherwise they are read here, or not kept if
        values are mutable. `columns`: `frame.columns`, if the caller has them.
        """
        if not isinstance(frame, pl.DataFrame):
            raise TypeError(f"`frame` must be a polars DataFrame, was {type(frame).__name__}")
        whole = offset == 0 and (length is None or length == frame.height)
        self._source = frame
        self._offset = offset
        self._length = frame.height - offset if length is None else length
        self._frame = frame if whole else None
        if rows is None and not has_nested_columns(frame):
            rows = self.to_frame().rows()
        self._rows = None if rows is None else tuple(rows)
        self._columns = tuple(frame.columns if columns is None else columns)

    @classmethod
    def wrap(cls, frame: pl.DataFrame, rows: Sequence[tuple] | None = None) -> "BarSignalsFrame":
        """`BarSignalsFrame(frame, rows)`."""
        return cls(frame, rows)

    def to_frame(self) -> pl.DataFrame:
        """The viewed rows as a polars frame (shared, made on first use). Do not change it in
        place; `clone()` it."""
        frame = self._frame
        if frame is None:
            frame = self._frame = self._source.slice(self._offset, self._length)
        return frame

    # -- reads answered from the rows ------------------------------------------------------
    @property
    def height(self) -> int:
        return self._length

    def __len__(self) -> int:
        return self._length

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    @columns.setter
    def columns(self, names: Any) -> None:
        raise TypeError(_READ_ONLY.format(what="renaming columns"))

    def iter_rows(self, *, named: bool = False, buffer_size: int = 512) -> Iterator[Any]:
        rows = self._rows
        if rows is None:  # nested, mutable values: fresh ones each call, as polars gives
            return self.to_frame().iter_rows(named=named, buffer_size=buffer_size)
        if not rows:  # most bars have no signal
            return iter(())
        if named:
            columns = self._columns
            return iter([dict(zip(columns, row)) for row in rows])
        return iter(rows)

    def rows(self, *, named: bool = False) -> list[Any]:
        return list(self.iter_rows(named=named))

    # -- everything else: the polars frame --------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name in BarSignalsFrame.__slots__:  # not set yet (while unpickling or building)
            raise AttributeError(name)
        if name in _IN_PLACE:
            raise TypeError(_READ_ONLY.format(what=f"`{name}()`"))
        return getattr(self.to_frame(), name)

    def __getitem__(self, key: Any) -> Any:
        return self.to_frame()[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        raise TypeError(_READ_ONLY.format(what="item assignment"))

    def __iter__(self) -> Iterator[pl.Series]:
        return iter(self.to_frame())

    def __eq__(self, other: Any) -> Any:
        return self.to_frame() == (other.to_frame() if isinstance(other, BarSignalsFrame) else other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self.to_frame())

    def hstack(self, columns: Any, *, in_place: bool = False) -> pl.DataFrame:
        if in_place:
            raise TypeError(_READ_ONLY.format(what="`hstack(in_place=True)`"))
        return self.to_frame().hstack(columns)

    def vstack(self, other: Any, *, in_place: bool = False) -> pl.DataFrame:
        if in_place:
            raise TypeError(_READ_ONLY.format(what="`vstack(in_place=True)`"))
        return self.to_frame().vstack(other.to_frame() if isinstance(other, BarSignalsFrame) else other)

    def __copy__(self) -> "BarSignalsFrame":
        return self  # read-only

    def __deepcopy__(self, memo: dict[int, Any]) -> pl.DataFrame:
        return self.to_frame().clone()

    def __reduce__(self) -> tuple[Any, ...]:
        return (BarSignalsFrame, (self.to_frame(), self._rows))


#: polars methods that change a frame in place; a `BarSignalsFrame` refuses them.
_IN_PLACE = frozenset({"insert_column", "replace_column", "drop_in_place", "extend", "_replace"})


def has_nested_columns(frame: pl.DataFrame) -> bool:
    """True if some column holds mutable Python values once read (lists, arrays, structs, objects)."""
    return any(dtype.is_nested() or dtype == pl.Object for dtype in frame.dtypes)


def _triples(frame: pl.DataFrame | BarSignalsFrame) -> list[tuple[str, str, float]]:
    """``(pair, signal_type, probability)`` of every row of `frame`, in order."""
    if not frame.height:
        return []
    if isinstance(frame, BarSignalsFrame):
        columns = frame.columns
        i, j, k = columns.index("pair"), columns.index("signal_type"), columns.index("probability")
        return [(row[i], row[j], row[k]) for row in frame.iter_rows()]
    return list(zip(frame["pair"].to_list(), frame["signal_type"].to_list(), frame["probability"].to_list()))


@dataclass(frozen=True, slots=True)
class Signals:
    """Signals for one bar (inside a `ModelContext`) or for a whole run.

    `value` is a polars DataFrame (inside a `ModelContext`, a read-only
    `BarSignalsFrame` view) with at least `pair`, `timestamp`, `signal_type`
    ("rise", "fall" or "none") and `probability` in [0, 1]. Inside a
    `ModelContext` it holds only the signals of the current bar, ordered as in the
    input. `Signals(pl.DataFrame())` is an empty set of signals.

    `ranked()` and `strongest(pair)` are computed on first use and kept.
    """

    value: pl.DataFrame | BarSignalsFrame
    _ranked: list[tuple[str, str, float]] | None = field(default=None, init=False, compare=False, repr=False)
    _strongest: dict[str, tuple[str, float]] | None = field(default=None, init=False, compare=False, repr=False)

    def __len__(self) -> int:
        return self.value.height

    @property
    def is_empty(self) -> bool:
        return self.value.height == 0

    def ranked(self) -> list[tuple[str, str, float]]:
        """``(pair, signal_type, probability)`` of every signal, highest probability first
        (input order on ties); computed once per `Signals` and kept."""
        ranked = self._ranked
        if ranked is None:
            ranked = sorted(_triples(self.value), key=lambda r: -r[2])
            object.__setattr__(self, "_ranked", ranked)  # a cache on a frozen dataclass
        return ranked

    def strongest(self, pair: str) -> tuple[str, float] | None:
        """The highest-probability signal of `pair`, as ``(signal_type, probability)``, or None
        (the first one on ties)."""
        table = self._strongest
        if table is None:
            table = {}
            for p, signal_type, probability in _triples(self.value):
                best = table.get(p)
                if best is None or probability > best[1]:
                    table[p] = (signal_type, probability)
            object.__setattr__(self, "_strongest", table)  # a cache on a frozen dataclass
        return table.get(pair)
