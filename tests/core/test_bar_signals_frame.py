"""`BarSignalsFrame` (a bar's signals in `ModelContext`) iterates exactly like polars."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

from signalflow.core.signals import BarSignalsFrame

FRAME = pl.DataFrame(
    {
        "pair": ["B", "A", "C"],
        "timestamp": [datetime(2024, 1, 1, 0, 5)] * 3,
        "signal_type": ["rise", "fall", "none"],
        "probability": [0.9, 0.2, None],
        "extra": [[1, 2], [], None],
    }
)


@pytest.mark.parametrize("frame", [FRAME, FRAME.head(0), FRAME.slice(1, 1)], ids=["rows", "empty", "one"])
@pytest.mark.parametrize("named", [False, True])
def test_bar_signals_frame_iter_rows_equals_polars(frame, named):
    wrapped = BarSignalsFrame.wrap(frame)
    assert list(wrapped.iter_rows(named=named)) == list(frame.iter_rows(named=named))
    assert wrapped.equals(frame)


def test_bar_signals_frame_derived_frames_are_plain_polars():
    wrapped = BarSignalsFrame.wrap(FRAME)
    derived = wrapped.filter(pl.col("probability") > 0.5)
    assert type(wrapped.head(1)) is pl.DataFrame
    assert type(derived) is pl.DataFrame
    assert derived["pair"].to_list() == ["B"]
