"""signalflow_gym.experiment.statistics against known answers.

Hand-computed cases (IQM, probability of improvement, performance profile) and coverage of
the bootstrap intervals on simulated samples with a known truth. Every simulation has fixed
seeds: the file is deterministic.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import scipy.stats

from signalflow.core.errors import ConfigError, DataValidationError
from signalflow_gym.experiment.statistics import (
    aggregate_intervals,
    iqm,
    mean,
    median,
    performance_profile,
    probability_of_improvement,
    probability_of_improvement_interval,
    stratified_bootstrap_interval,
)


def exact(msg: str) -> str:
    return f"^{re.escape(msg)}$"


# ------------------------------------------------------------------ aggregates


def test_iqm_hand_computed_is_mean_of_middle_half():
    # sorted 1 2 | 3 4 5 6 | 10 100: int(0.25 * 8) = 2 cut from each end
    assert iqm([10, 1, 2, 3, 100, 4, 5, 6]) == pytest.approx(4.5)
    # n = 5: int(1.25) = 1 cut from each end -> mean(2, 3, 4)
    assert iqm([50, 1, 2, 3, 4]) == pytest.approx(3.0)


def test_aggregates_pool_runs_over_strata():
    scores = [[1.0, 2.0], [3.0, 4.0, 5.0, 6.0, 7.0, 100.0]]
    assert mean(scores) == pytest.approx(128.0 / 8)
    assert median(scores) == pytest.approx(4.5)
    assert iqm(scores) == pytest.approx(4.5)
    # a 2-D array is read as one row per stratum, the same as the list of rows
    matrix = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 60.0]])
    assert iqm(matrix) == iqm(list(matrix)) == pytest.approx(np.mean([2.0, 3.0, 4.0, 5.0]))


def test_probability_of_improvement_hand_computed_ties_count_half():
    # pairs (x, y): x=1 beats 0 -> 1; x=2 ties 2, 2 and beats 0 -> 2; x=3 beats all -> 3; 6 of 9
    assert probability_of_improvement([1.0, 2.0, 3.0], [2.0, 2.0, 0.0]) == pytest.approx(6.0 / 9.0)
    assert probability_of_improvement([5.0, 5.0], [5.0, 5.0, 5.0]) == pytest.approx(0.5)
    assert probability_of_improvement([1.0, 2.0], [3.0, 4.0]) == 0.0


def test_probability_of_improvement_is_unweighted_mean_over_strata():
    # stratum 0: 6/9 as above; stratum 1 (more runs of Y than X): x=0 loses to both 1s -> 0
    value = probability_of_improvement([[1.0, 2.0, 3.0], [0.0, 0.0]], [[2.0, 2.0, 0.0], [1.0, 1.0, 1.0]])
    assert value == pytest.approx((6.0 / 9.0 + 0.0) / 2.0)


def test_stratified_bootstrap_mean_interval_covers_true_mean_in_90_to_98_percent():
    """200 samples of 3 strata x 10 runs, N(mu_s, 1) with mu = (0, 1, -0.5): true mean 1/6."""
    mus = np.array([0.0, 1.0, -0.5])
    hits = 0
    for k in range(200):
        rng = np.random.default_rng(10_000 + k)
        interval = stratified_bootstrap_interval([rng.normal(m, 1.0, 10) for m in mus], "mean", reps=1000, seed=k)
        hits += interval.low <= mus.mean() <= interval.high
    assert 0.90 <= hits / 200 <= 0.98


def test_stratified_bootstrap_iqm_interval_covers_true_centre_in_90_to_98_percent():
    """Symmetric fat-tailed runs (Student t, 5 dof) around mu_s: the IQM's target is mean(mu)."""
    mus = np.array([0.0, 1.0, -0.5])
    hits = 0
    for k in range(200):
        rng = np.random.default_rng(20_000 + k)
        interval = stratified_bootstrap_interval([m + rng.standard_t(5, 10) for m in mus], "iqm", reps=1000, seed=k)
        hits += interval.low <= mus.mean() <= interval.high
    assert 0.90 <= hits / 200 <= 0.98


def test_probability_of_improvement_interval_covers_true_value_in_90_to_98_percent():
    """X ~ N(0.8, 1), Y ~ N(0, 1): P(X > Y) = Phi(0.8 / sqrt 2); 2 strata, 10 and 8 runs."""
    truth = float(scipy.stats.norm.cdf(0.8 / math.sqrt(2.0)))
    hits = 0
    for k in range(200):
        rng = np.random.default_rng(30_000 + k)
        x = [rng.normal(0.8, 1.0, 10) for _ in range(2)]
        y = [rng.normal(0.0, 1.0, 8) for _ in range(2)]
        interval = probability_of_improvement_interval(x, y, reps=500, seed=k)
        hits += interval.low <= truth <= interval.high
    assert 0.90 <= hits / 200 <= 0.98


def test_stratified_bootstrap_resamples_within_strata_only():
    # No spread inside either stratum: every stratified resample has mean 5 exactly; pooling the
    # strata before resampling would give a wide interval.
    interval = stratified_bootstrap_interval([[0.0, 0.0, 0.0], [10.0, 10.0, 10.0]], "mean", reps=500)
    assert (interval.value, interval.low, interval.high) == (5.0, 5.0, 5.0)


def test_aggregate_intervals_report_mean_median_iqm_and_are_reproducible():
    rng = np.random.default_rng(1)
    scores = [rng.normal(0.1, 0.05, 5), rng.normal(0.0, 0.05, 5)]
    first = aggregate_intervals(scores, reps=2000, seed=3)
    assert sorted(first) == ["iqm", "mean", "median"]
    assert first["mean"].value == pytest.approx(mean(scores))
    assert first["median"].value == pytest.approx(median(scores))
    assert first["iqm"].value == pytest.approx(iqm(scores))
    for estimate in first.values():
        assert estimate.low <= estimate.value <= estimate.high
        assert estimate.confidence == 0.95
    assert aggregate_intervals(scores, reps=2000, seed=3) == first
    assert aggregate_intervals(scores, reps=2000, seed=4) != first
    assert first["iqm"].to_dict() == {
        "value": first["iqm"].value, "low": first["iqm"].low, "high": first["iqm"].high, "confidence": 0.95
    }


def test_performance_profile_hand_computed_share_and_band():
    profile = performance_profile([[1.0, 2.0], [3.0, 4.0]], [0.0, 2.0, 4.0], reps=500)
    np.testing.assert_allclose(profile.share, [1.0, 0.5, 0.0])
    assert np.all(profile.low <= profile.share) and np.all(profile.share <= profile.high)
    # nothing exceeds the maximum in any resample; everything exceeds 0 in all of them
    assert (profile.low[0], profile.high[0], profile.low[2], profile.high[2]) == (1.0, 1.0, 0.0, 0.0)
    single = performance_profile([0.1], reps=0)
    assert single.low is None and single.high is None and single.thresholds.size == 101


def test_aggregate_inputs_are_validated_with_clear_errors():
    with pytest.raises(DataValidationError, match=exact("`scores` must have at least one run, was empty")):
        iqm([])
    with pytest.raises(
        DataValidationError,
        match=exact("`scores[1]` must be finite, was NaN or inf at index 1 (nan); drop or fill the missing runs or bars first"),
    ):
        mean([[1.0, 2.0], [3.0, float("nan")]])
    with pytest.raises(
        DataValidationError,
        match=exact(
            "`scores[1]` must have at least 2 runs for a confidence interval, was 1; "
            "train more seeds (runs are resampled within each stratum)"
        ),
    ):
        stratified_bootstrap_interval([[1.0, 2.0], [3.0]])
    with pytest.raises(
        DataValidationError,
        match=exact(
            "`x_scores` and `y_scores` must have the same strata, was 2 and 1 strata; "
            "compare policies on the same tasks, folds or markets"
        ),
    ):
        probability_of_improvement([[1.0], [2.0]], [1.0])
    with pytest.raises(
        ConfigError, match=exact("`statistic` must be one of mean, median, iqm or a function f(x, axis), was 'max'")
    ):
        stratified_bootstrap_interval([1.0, 2.0], "max")
    with pytest.raises(ConfigError, match=exact("`confidence` must be in (0, 1), e.g. 0.95, was 95")):
        aggregate_intervals([1.0, 2.0], confidence=95)
    with pytest.raises(ConfigError, match=exact("`reps` must be an int >= 100, was 10; 2,000 to 10,000 is usual")):
        probability_of_improvement_interval([1.0, 2.0], [1.0, 2.0], reps=10)
