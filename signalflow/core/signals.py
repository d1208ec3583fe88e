"""`Signals`: a thin, immutable wrapper around a polars DataFrame of signals."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

__all__ = ["Signals", "SIGNAL_COLUMNS", "BarSignalsFrame"]

#: Required columns; extra columns (detector outputs, features) are kept.
SIGNAL_COLUMNS: tuple[str, ...] = ("pair", "timestamp", "signal_type", "probability")


_READ_ONLY = (
    "a bar's signals frame (context.signals.value) is shared by every run over this market and is "
    "read-only; {what} would change it in place. Work on a copy: frame = context.signals.value.clone()"
)


#: What `iter_rows` returns for a bar without signals (an exhausted iterator can be shared).
_NO_ROWS = iter(())


class BarSignalsFrame(pl.DataFrame):
    """The read-only polars DataFrame of one bar's signals (`ModelContext.signals.value`).

    Everything that reads works exactly as on `pl.DataFrame`. Two differences:

    - `iter_rows()` yields rows read once when the market was prepared (models
      iterate the bar's signals on every bar; polars would convert them again each
      time). The rows, their values and their order are those of polars; named rows
      are fresh dicts on every call. Frames with nested columns (lists, structs,
      objects) are converted afresh each time, as polars does, since their values
      are mutable.
    - In-place changes (`df[0, "probability"] = ...`, `insert_column`, `extend`,
      `hstack(in_place=True)`, ...) raise `TypeError`: the frame is shared by every
      run over the market. `clone()`, `filter()`, `head()`, ... return ordinary,
      mutable polars frames.
    """

    def __new__(cls, *args, **kwargs):
        # Frames polars builds from this one (`df.__class__(...)`, `BarSignalsFrame(data)`)
        # are ordinary frames; only `wrap` makes read-only ones.
        return pl.DataFrame(*args, **kwargs)

    @classmethod
    def _from_pydf(cls, py_df):
        return pl.DataFrame._from_pydf(py_df)

    @classmethod
    def wrap(cls, frame: pl.DataFrame, rows: list[tuple] | None = None) -> "BarSignalsFrame":
        """View `frame` (no copy) as a read-only `BarSignalsFrame`.

        `rows`: `frame.rows()` if the caller has them (only for frames without nested
        columns); otherwise they are read here, or not kept if values are mutable.
        """
        out = object.__new__(cls)
        object.__setattr__(out, "_df", frame._df)
        if rows is None and not has_nested_columns(frame):
            rows = frame.rows()
        object.__setattr__(out, "_rows", None if rows is None else tuple(rows))
        object.__setattr__(out, "_columns", tuple(frame.columns))
        return out

    def iter_rows(self, *, named: bool = False, buffer_size: int = 512):
        rows = self._rows
        if rows is None:  # nested, mutable values: fresh ones each call, as polars gives
            return pl.DataFrame.iter_rows(self, named=named, buffer_size=buffer_size)
        if not rows:
            return _NO_ROWS
        if named:
            named_rows = self.__dict__.get("_named")
            if named_rows is None:
                columns = self._columns
                named_rows = tuple(dict(zip(columns, row)) for row in rows)
                object.__setattr__(self, "_named", named_rows)
            return map(dict, named_rows)  # a fresh dict per row: callers may change theirs
        return iter(rows)

    def __reduce__(self):
        return (_restore_bar_frame, (pl.DataFrame._from_pydf(self._df), self._rows))

    # -- read-only -------------------------------------------------------------------------
    def __setattr__(self, name, value):
        raise TypeError(_READ_ONLY.format(what=f"setting `{name}`"))

    def __setitem__(self, key, value):
        raise TypeError(_READ_ONLY.format(what="item assignment"))

    @property
    def columns(self) -> list[str]:
        return pl.DataFrame.columns.fget(self)

    @columns.setter
    def columns(self, names) -> None:
        raise TypeError(_READ_ONLY.format(what="renaming columns"))

    def _refuse(what):  # noqa: N805 (builds the methods below)
        def method(self, *args, **kwargs):
            raise TypeError(_READ_ONLY.format(what=f"`{what}()`"))

        method.__name__ = what
        return method

    insert_column = _refuse("insert_column")
    replace_column = _refuse("replace_column")
    _replace = _refuse("_replace")
    drop_in_place = _refuse("drop_in_place")
    extend = _refuse("extend")
    del _refuse

    def hstack(self, columns, *, in_place: bool = False):
        if in_place:
            raise TypeError(_READ_ONLY.format(what="`hstack(in_place=True)`"))
        return super().hstack(columns)

    def vstack(self, other, *, in_place: bool = False):
        if in_place:
            raise TypeError(_READ_ONLY.format(what="`vstack(in_place=True)`"))
        return super().vstack(other)


def _restore_bar_frame(frame: pl.DataFrame, rows: tuple | None) -> BarSignalsFrame:
    return BarSignalsFrame.wrap(frame, rows)


def has_nested_columns(frame: pl.DataFrame) -> bool:
    """True if some column holds mutable Python values once read (lists, arrays, structs, objects)."""
    return any(dtype.is_nested() or dtype == pl.Object for dtype in frame.dtypes)


#: Former name (empty bars used their own frame class); kept for code that imports it.
EmptySignalsFrame = BarSignalsFrame


@dataclass(frozen=True, slots=True)
class Signals:
    """Signals for one bar (inside a `ModelContext`) or for a whole run.

    `value` is a polars DataFrame with at least `pair`, `timestamp`,
    `signal_type` ("rise", "fall" or "none") and `probability` in [0, 1].
    Inside a `ModelContext` it holds only the signals of the current bar,
    ordered as in the input.

    `strongest` maps each pair to its highest-probability signal
    ``(signal_type, probability)`` (first one on ties); the runner fills it in
    once per run, and it is computed on first use otherwise.
    """

    value: pl.DataFrame
    strongest_by_pair: dict[str, tuple[str, float]] | None = field(default=None, compare=False, repr=False)
    _ranked: list[tuple[str, str, float]] | None = field(default=None, compare=False, repr=False)

    def __len__(self) -> int:
        return self.value.height

    @property
    def is_empty(self) -> bool:
        return self.value.height == 0

    def ranked(self) -> list[tuple[str, str, float]]:
        """``(pair, signal_type, probability)`` of every signal, highest probability first
        (input order on ties); computed once per `Signals` and cached."""
        ranked = self._ranked
        if ranked is None:
            ranked = []
            if self.value.height:
                rows = zip(
                    self.value["pair"].to_list(),
                    self.value["signal_type"].to_list(),
                    self.value["probability"].to_list(),
                )
                ranked = sorted(rows, key=lambda r: -r[2])
            object.__setattr__(self, "_ranked", ranked)
        return ranked

    def strongest(self, pair: str) -> tuple[str, float] | None:
        """The highest-probability signal of `pair`, as ``(signal_type, probability)``, or None."""
        table = self.strongest_by_pair
        if table is None:
            table = {}
            if self.value.height:
                for p, st, pr in zip(
                    self.value["pair"].to_list(),
                    self.value["signal_type"].to_list(),
                    self.value["probability"].to_list(),
                ):
                    best = table.get(p)
                    if best is None or pr > best[1]:
                        table[p] = (st, pr)
            object.__setattr__(self, "strongest_by_pair", table)
        return table.get(pair)
