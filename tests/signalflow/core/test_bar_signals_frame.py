"""`BarSignalsFrame` (a bar's signals in `ModelContext`) reads exactly like polars and refuses in-place changes."""

from __future__ import annotations

import copy
import pickle
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
    restored = pickle.loads(pickle.dumps(wrapped))
    assert type(restored) is BarSignalsFrame
    assert list(restored.iter_rows(named=named)) == list(frame.iter_rows(named=named))


def test_bar_signals_frame_derived_frames_are_plain_mutable_polars():
    wrapped = BarSignalsFrame.wrap(FRAME)
    derived = wrapped.filter(pl.col("probability") > 0.5)
    assert type(wrapped.head(1)) is pl.DataFrame
    assert type(derived) is pl.DataFrame
    assert derived["pair"].to_list() == ["B"]
    copy = wrapped.clone()
    copy[0, "probability"] = 0.1
    assert wrapped["probability"][0] == 0.9
    assert wrapped.hstack([pl.Series("x", [1, 2, 3])]).columns[-1] == "x"


@pytest.mark.parametrize(
    "change",
    [
        lambda f: f.__setitem__((0, "probability"), 0.5),
        lambda f: setattr(f, "columns", ["a", "b", "c", "d", "e"]),
        lambda f: f.insert_column(0, pl.Series("x", [1, 2, 3])),
        lambda f: f.replace_column(0, pl.Series("x", [1, 2, 3])),
        lambda f: f.drop_in_place("pair"),
        lambda f: f.extend(FRAME),
        lambda f: f.hstack([pl.Series("x", [1, 2, 3])], in_place=True),
        lambda f: f.vstack(FRAME, in_place=True),
    ],
    ids=["setitem", "rename", "insert_column", "replace_column", "drop_in_place", "extend", "hstack", "vstack"],
)
def test_bar_signals_frame_refuses_in_place_changes(change):
    wrapped = BarSignalsFrame.wrap(FRAME)
    with pytest.raises(TypeError, match=r"read-only.*clone\(\)"):
        change(wrapped)
    assert wrapped.equals(FRAME)
    assert list(wrapped.iter_rows()) == list(FRAME.iter_rows())


def test_bar_signals_frame_named_rows_are_fresh_dicts():
    wrapped = BarSignalsFrame.wrap(FRAME)
    first = list(wrapped.iter_rows(named=True))
    first[0]["probability"] = -1.0
    first[0]["new"] = 1
    assert list(wrapped.iter_rows(named=True)) == list(FRAME.iter_rows(named=True))


@pytest.mark.parametrize(
    "read",
    [
        lambda f: f[:, 0:2],
        lambda f: f[:, [0, 3]],
        lambda f: f[:, "pair":"signal_type"],
        lambda f: f[:, [True, False, True, False, True]],
        lambda f: f.clear(n=2),
        lambda f: f.select("pair").with_columns(x=1),
        lambda f: f.to_dicts(),
        lambda f: f.rows(named=True),
        lambda f: f.row(0),
        lambda f: f.item(0, "pair"),
        lambda f: copy.deepcopy(f),
    ],
    ids=["slice-cols", "list-cols", "name-range", "bool-mask", "clear", "select", "to_dicts", "rows", "row", "item", "deepcopy"],
)
def test_bar_signals_frame_reads_like_polars(read):
    wrapped = BarSignalsFrame.wrap(FRAME)
    got, want = read(wrapped), read(FRAME)
    if isinstance(want, pl.DataFrame):
        assert type(got) is pl.DataFrame and got.equals(want)
    else:
        assert got == want


def test_bar_signals_frame_nested_values_are_fresh_each_call():
    """List/struct values are mutable Python objects: like polars, each call gives new ones."""
    wrapped = BarSignalsFrame.wrap(FRAME)
    first = list(wrapped.iter_rows())
    first[0][4].append(99)
    named = list(wrapped.iter_rows(named=True))
    named[0]["extra"].append(77)
    assert list(wrapped.iter_rows()) == list(FRAME.iter_rows())
    assert list(wrapped.iter_rows(named=True)) == list(FRAME.iter_rows(named=True))


def test_bar_signals_frame_wraps_a_frame_and_is_no_dataframe_subclass():
    wrapped = BarSignalsFrame(FRAME)
    assert not isinstance(wrapped, pl.DataFrame)
    assert wrapped.to_frame() is FRAME and wrapped.height == 3 and len(wrapped) == 3
    with pytest.raises(TypeError, match=r"^`frame` must be a polars DataFrame, was dict$"):
        BarSignalsFrame({"a": [1, 2]})
