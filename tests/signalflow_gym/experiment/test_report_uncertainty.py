"""The report's uncertainty entries on small hand-computed cases (`signalflow_gym.experiment.uncertainty`)."""

from __future__ import annotations

import numpy as np
import pytest

from signalflow.core.errors import ConfigError
from signalflow_gym.experiment.statistics import probability_of_improvement_interval
from signalflow.strategy.metrics import bar_returns
from signalflow_gym.experiment.uncertainty import improvement, policy_aggregates, profiles


def test_improvement_over_a_deterministic_baseline_is_the_share_of_seeds_that_beat_it():
    est = improvement([0.1, 0.3, 0.2, 0.25], [0.25])  # wins: 0.3; tie: 0.25 -> (1 + 0.5) / 4
    assert est["value"] == pytest.approx(1.5 / 4)
    assert (est["n_agent_runs"], est["n_baseline_runs"]) == (4, 1)
    assert 0.0 <= est["low"] <= est["value"] <= est["high"] <= 1.0
    assert est["low"] < est["high"]  # the agent's seeds are resampled


def test_improvement_with_one_agent_run_has_no_interval():
    est = improvement([0.2], [0.1, 0.3, 0.4])
    assert est["value"] == pytest.approx(1 / 3) and est["low"] is None and est["high"] is None


def test_a_deterministic_y_needs_min_y_runs_1_and_min_y_runs_is_checked():
    from signalflow.core.errors import DataValidationError

    with pytest.raises(DataValidationError, match="at least 2 runs"):
        probability_of_improvement_interval([0.1, 0.2], [0.15], reps=200)
    with pytest.raises(ConfigError, match="`min_y_runs` must be an int >= 1"):
        probability_of_improvement_interval([0.1, 0.2], [0.15], reps=200, min_y_runs=0)
    est = probability_of_improvement_interval([0.1, 0.2], [0.15], reps=200, min_y_runs=1)
    assert est.value == 0.5 and est.low == 0.0 and est.high == 1.0


def test_aggregates_of_one_run_depend_on_whether_the_policy_is_deterministic():
    fixed = policy_aggregates([0.05], [1.2], deterministic=True)
    assert fixed["total_return"]["iqm"] == {"value": 0.05, "low": 0.05, "high": 0.05, "confidence": 0.95}
    seeded = policy_aggregates([0.05], [1.2], deterministic=False)
    assert seeded["sharpe"]["median"]["low"] is None and "train more seeds" in seeded["ci"]
    many = policy_aggregates([0.0, 0.1, 0.2, 0.3, 10.0], [1, 2, 3, 4, 5], deterministic=False)
    assert many["total_return"]["iqm"]["value"] == pytest.approx(0.2)  # trim_mean(., 0.25): one run cut each end
    assert many["total_return"]["mean"]["value"] == pytest.approx(2.12)


def test_bar_returns_start_from_the_initial_capital():
    np.testing.assert_allclose(bar_returns(np.array([110.0, 99.0]), 100.0), [0.1, -0.1])


def test_profiles_share_common_thresholds_and_fall_from_one_to_zero():
    shown = profiles({"agent": [0.1, 0.2, 0.3], "threshold": [0.25]}, points=11)
    np.testing.assert_allclose(shown["agent"].thresholds, shown["threshold"].thresholds)
    assert shown["agent"].share[0] == pytest.approx(2 / 3) and shown["agent"].share[-1] == 0.0
    assert shown["threshold"].low is None and shown["agent"].low is not None
