"""`Signals`: a thin, immutable wrapper around a polars DataFrame of signals."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

__all__ = ["Signals", "SIGNAL_COLUMNS", "BarSignalsFrame"]

#: Required columns; extra columns (detector outputs, features) are kept.
SIGNAL_COLUMNS: tuple[str, ...] = ("pair", "timestamp", "signal_type", "probability")


class BarSignalsFrame(pl.DataFrame):
    """The polars DataFrame of one bar's signals (`ModelContext.signals.value`).

    Identical to `pl.DataFrame` except that `iter_rows()` reads the rows in one
    call instead of polars' buffered loop: models iterate the bar's signals on
    every bar, the frames hold a handful of rows, and polars spends several
    microseconds setting up its loop (even for zero rows). The rows and their
    order are exactly those of `pl.DataFrame.iter_rows`. Frames derived from it
    (`filter`, `head`, ...) are plain polars frames.
    """

    @classmethod
    def _from_pydf(cls, py_df):
        return pl.DataFrame._from_pydf(py_df)

    @classmethod
    def wrap(cls, frame: pl.DataFrame) -> "BarSignalsFrame":
        """View `frame` (no copy) as a `BarSignalsFrame`."""
        out = cls.__new__(cls)
        out._df = frame._df
        return out

    def iter_rows(self, *, named: bool = False, buffer_size: int = 512):
        df = self._df
        if not df.height():
            return iter(())
        rows = df.row_tuples()
        if named:
            columns = df.columns()
            return (dict(zip(columns, row)) for row in rows)
        return iter(rows)


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
