"""`MetricsRecorder`: rows as recorded, whether written at once or counted as repeats of the last row."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signalflow.core.bar_metrics import METRIC_NAMES, BarMetrics, MetricsRecorder


def _metrics(k: int) -> BarMetrics:
    return BarMetrics(tuple(float(k * 100 + i) for i in range(len(METRIC_NAMES))))


def _record_all(recorder: MetricsRecorder, plan: list[int]) -> np.ndarray:
    """Record `plan` (per bar: k > 0 a new row, 0 the same object as the bar before);
    return the expected columns."""
    expected, current = [], None
    for k in plan:
        if k or current is None:
            current = _metrics(k)
        recorder.record(current)
        expected.append(current.values_list)
    return np.array(expected, dtype=np.float64).T.reshape(len(METRIC_NAMES), len(plan))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 2600)), min_size=1, max_size=6))
def test_repeated_rows_are_the_rows_recorded(runs):
    # runs of repeats of various lengths, crossing the 1,024-row block boundaries
    plan = []
    for i, (_, length) in enumerate(runs):
        plan += [i + 1] + [0] * (length - 1)
    recorder = MetricsRecorder(10_000.0)
    expected = _record_all(recorder, plan)
    assert recorder.count == len(plan)
    np.testing.assert_array_equal(recorder.columns(), expected)
    np.testing.assert_array_equal(recorder.columns(release=True), expected)  # reading twice changes nothing
    assert recorder.released


def test_a_copy_taken_inside_a_run_of_repeats_continues_like_the_original():
    recorder = MetricsRecorder(10_000.0)
    same = _metrics(1)
    for _ in range(1500):
        recorder.record(same)
    copies = [copy.deepcopy(recorder), pickle.loads(pickle.dumps(recorder))]
    for r in (recorder, *copies):
        for _ in range(700):
            r.record(same)
        r.record(_metrics(2))
    expected = np.array([same.values_list] * 2200 + [_metrics(2).values_list]).T
    for r in (recorder, *copies):
        np.testing.assert_array_equal(r.columns(), expected)


def test_a_released_recorder_refuses_to_hand_out_rows_again():
    recorder = MetricsRecorder(10_000.0)
    recorder.record(_metrics(1))
    recorder.columns(release=True)
    with pytest.raises(ValueError, match="handed out by columns"):
        recorder.columns()


def test_a_released_recorder_refuses_more_rows_even_the_last_one_again():
    recorder = MetricsRecorder(10_000.0)
    same = _metrics(1)
    recorder.record(same)
    recorder.columns(release=True)
    with pytest.raises(ValueError, match="records no more"):
        recorder.record(same)
    assert recorder.count == 1


def test_recording_something_that_is_not_metrics_fails_at_once():
    recorder = MetricsRecorder(10_000.0)
    with pytest.raises(AttributeError):
        recorder.record(None)  # type: ignore[arg-type]
    assert recorder.count == 0
