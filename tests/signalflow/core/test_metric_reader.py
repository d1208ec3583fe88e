"""`metric_reader`: several metrics in one call, the same values as reading them by name."""

import pytest

from signalflow.core.bar_metrics import METRIC_NAMES, BarMetrics, metric_reader


def _metrics() -> BarMetrics:
    return BarMetrics(tuple(float(i) + 0.5 for i in range(len(METRIC_NAMES))))


def test_reads_the_same_values_as_by_name_in_the_order_asked():
    m = _metrics()
    names = ("max_drawdown", "equity", "cash")
    assert metric_reader(*names)(m) == tuple(m[n] for n in names)
    assert metric_reader("exposure")(m) == (m["exposure"],)


def test_reads_a_plain_mapping_by_name_and_a_missing_name_raises_key_error():
    plain = {"equity": 3.0, "cash": 1.0}
    assert metric_reader("cash", "equity")(plain) == (1.0, 3.0)
    with pytest.raises(KeyError, match="max_drawdown"):
        metric_reader("equity", "max_drawdown")(plain)


def test_unknown_or_no_names_are_refused_when_the_reader_is_made():
    with pytest.raises(ValueError, match="unknown metric name.*equty"):
        metric_reader("equity", "equty")
    with pytest.raises(ValueError, match="at least one"):
        metric_reader()
