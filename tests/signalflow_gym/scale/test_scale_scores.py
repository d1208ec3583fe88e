"""Planning of runs, the sequential driver, walk-forward scores and sweep selection statistics: no Ray."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
import scipy.stats

from signalflow.core.errors import ConfigError
from signalflow_gym.scale.driver import run_tasks
from signalflow_gym.scale.folds import FoldRun, plan_runs
from signalflow_gym.scale.scores import score_summary, scores_markdown
from signalflow_gym.scale.selection import selection_statistics, selection_markdown
from signalflow.strategy.metrics import bar_returns


def test_plan_runs_one_per_fold_without_seeds_and_fold_times_seeds_with_them():
    assert plan_runs(3, base_seed=5) == [FoldRun(0, 5, "fold_0"), FoldRun(1, 6, "fold_1"), FoldRun(2, 7, "fold_2")]
    runs = plan_runs(2, base_seed=5, seeds=[3, 1])
    assert [(r.fold, r.seed, r.folder) for r in runs] == [(0, 3, "fold_0/seed_3"), (0, 1, "fold_0/seed_1"),
                                                          (1, 3, "fold_1/seed_3"), (1, 1, "fold_1/seed_1")]
    with pytest.raises(ConfigError, match=r"`seeds` must be distinct, was \[1, 1\]"):
        plan_runs(2, base_seed=0, seeds=[1, 1])


def _double(shared, x):
    if x < 0:
        raise ValueError(f"negative {x}")
    return shared * x


def test_sequential_driver_keeps_the_order_and_turns_a_failure_into_its_result():
    seen = []
    out = run_tasks(_double, [(1,), (-2,), (3,)], shared=10, backend="sequential",
                    on_error=lambda call, exc: f"error {call[0]}: {exc}", on_result=lambda c, r: seen.append(c[0]))
    assert out == [10, "error -2: negative -2", 30] and seen == [1, -2, 3]
    with pytest.raises(ConfigError, match="`backend` must be one of"):
        run_tasks(_double, [], backend="threads", on_error=lambda c, e: None)


def _runs_frame(agent: list[list[float]], threshold: list[float]) -> pl.DataFrame:
    """A folds.parquet-like table: per fold, the agent's seeds and a deterministic threshold baseline."""
    rows = []
    for fold, values in enumerate(agent):
        for seed, v in enumerate(values):
            rows.append({"fold": fold, "seed": seed, "policy": "agent", "status": "ok", "total_return": v,
                         "sharpe": 10 * v})
            rows.append({"fold": fold, "seed": seed, "policy": "threshold", "status": "ok",
                         "total_return": threshold[fold], "sharpe": 10 * threshold[fold]})
    rows.append({"fold": 1, "seed": 9, "policy": "agent", "status": "error", "total_return": None, "sharpe": None})
    return pl.DataFrame(rows)


def test_scores_over_folds_x_seeds_match_hand_computed_values_and_hold_their_intervals():
    agent = [[0.10, 0.02, 0.05, -0.01], [0.03, 0.04, 0.20, 0.00]]
    df = _runs_frame(agent, threshold=[0.04, 0.035])
    s = score_summary(df, reps=500)
    assert s["intervals"] and s["note"] is None and s["n_runs"] == 8 and s["runs_per_fold"] == {0: 4, 1: 4}
    pooled = sorted(v for f in agent for v in f)
    tr = s["policies"]["agent"]["total_return"]
    assert tr["mean"]["value"] == pytest.approx(np.mean(pooled))
    assert tr["median"]["value"] == pytest.approx((pooled[3] + pooled[4]) / 2)
    assert tr["iqm"]["value"] == pytest.approx(np.mean(pooled[2:6]))  # 8 runs: 2 cut at each end
    assert s["policies"]["agent"]["sharpe"]["mean"]["value"] == pytest.approx(10 * np.mean(pooled))
    # fold 0: 2 of 4 seeds beat 0.04; fold 1: 2 of 4 beat 0.035 -> 0.5
    poi = s["probability_of_improvement"]["threshold"]["total_return"]
    assert poi["value"] == pytest.approx(0.5)
    for policy in s["policies"].values():
        for metric in ("total_return", "sharpe"):
            for est in policy[metric].values():
                assert est["low"] <= est["value"] + 1e-12 and est["value"] <= est["high"] + 1e-12
    assert 0.0 <= poi["low"] <= poi["value"] <= poi["high"] <= 1.0
    # folds are kept fixed and a deterministic baseline has one score per fold: a zero-width interval
    thr = s["policies"]["threshold"]["total_return"]["mean"]
    assert thr["low"] == pytest.approx(0.0375) and thr["high"] == pytest.approx(0.0375)
    assert tr["mean"]["high"] - tr["mean"]["low"] > 0.01  # the agent's seeds do vary
    md = scores_markdown(s)
    assert "| agent |" in md and "Probability of improvement" in md and "[" in md


def test_scores_of_one_seed_per_fold_have_no_intervals_and_say_why():
    s = score_summary(_runs_frame([[0.1], [0.2]], threshold=[0.0, 0.3]))
    assert not s["intervals"] and "at least 2 runs (seeds) in every fold" in s["note"]
    est = s["policies"]["agent"]["total_return"]["iqm"]
    assert est["value"] == pytest.approx(0.15) and est["low"] is None and est["high"] is None
    assert s["probability_of_improvement"]["threshold"]["total_return"]["value"] == pytest.approx(0.5)
    assert "Note: no confidence intervals" in scores_markdown(s)


def test_scores_of_several_seeds_with_a_failed_run_say_which_fold_is_short_not_to_set_seeds():
    s = score_summary(_runs_frame([[0.1, 0.2], [0.3]], threshold=[0.0, 0.3]))  # fold 1's second seed failed
    assert not s["intervals"] and s["runs_per_fold"] == {0: 2, 1: 1}
    assert "fold(s) 1 have fewer because their other runs failed" in s["note"] and "set train.seeds" not in s["note"]
    every = _runs_frame([[0.1], [0.3]], threshold=[0.0, 0.3]).vstack(  # the second seed failed in every fold
        pl.DataFrame([{"fold": 0, "seed": 9, "policy": "agent", "status": "error", "total_return": None, "sharpe": None}]))
    note = score_summary(every)["note"]
    assert "fold(s) 0, 1 have fewer because their other runs failed" in note and "set train.seeds" not in note
    one_seed = score_summary(_runs_frame([[0.1], [0.3]], threshold=[0.0, 0.3]).filter(pl.col("status") == "ok"))
    assert "set train.seeds (or --seeds)" in one_seed["note"]  # one seed, nothing failed: the advice stands


def test_a_deterministic_baseline_scores_the_same_whatever_the_number_of_agent_seeds():
    """Its one backtest per fold was repeated once per agent seed and pooled as runs, so the IQM
    (which trims whole runs) of fold returns {0, 0, 0.03} read 0.01, 0.0075, 0.005 with 1, 2, 4
    seeds."""
    threshold = [0.0, 0.0, 0.03]
    for n_seeds in (1, 2, 4):
        df = _runs_frame([[0.01 * s for s in range(n_seeds)]] * 3, threshold=threshold)
        scores = score_summary(df, reps=200)["policies"]["threshold"]
        assert scores["n_runs"] == 3
        assert scores["total_return"]["iqm"]["value"] == pytest.approx(scipy.stats.trim_mean(threshold, 0.25))
        assert scores["total_return"]["mean"]["value"] == pytest.approx(0.01)


def test_stitched_baselines_cover_a_fold_that_only_another_seed_finished_and_folds_keep_their_numbers():
    from signalflow.strategy.metrics import equity_curve_summary
    from signalflow_gym.scale.walkforward_report import stitched_curves

    def frame(fold, agent, buy_and_hold):
        t0 = datetime(2024, 1, 1) + timedelta(minutes=3 * fold)
        return pl.DataFrame({"timestamp": [t0 + timedelta(minutes=i) for i in range(3)], "agent": agent,
                             "buy_and_hold": buy_and_hold})

    curves = {(0, 0): frame(0, [100.0, 101.0, 102.0], [100.0, 110.0, 120.0]),
              (0, 1): frame(0, [100.0, 100.0, 100.0], [100.0, 110.0, 120.0]),
              (1, 1): frame(1, [100.0, 99.0, 98.0], [100.0, 50.0, 50.0]),  # (1, 0) failed
              (2, 0): frame(2, [100.0, 100.0, 101.0], [100.0, 100.0, 100.0]),
              (2, 1): frame(2, [100.0, 100.0, 101.0], [100.0, 100.0, 100.0])}
    s = stitched_curves(curves, 100.0, multi_seed=True)
    assert s["fold"].to_list() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    np.testing.assert_allclose(s["buy_and_hold"].to_numpy(), [100, 110, 120, 120, 60, 60, 60, 60, 60])
    assert s["agent_seed0"].null_count() == 3 and s["agent_seed0"][-1] == pytest.approx(102.0 * 1.01)
    summary = equity_curve_summary(s["buy_and_hold"].to_numpy(), s["timestamp"], initial_capital=100.0)
    assert summary["total_return"] == pytest.approx(-0.4) and summary["max_drawdown"] == pytest.approx(0.5)
    single = stitched_curves({k: v for k, v in curves.items() if k[1] == 0}, 100.0, multi_seed=False)
    assert single["fold"].unique(maintain_order=True).to_list() == [0, 2]  # fold 1 failed: no fold renamed 1


def _returns_frame(r: np.ndarray) -> pl.DataFrame:
    t0 = datetime(2024, 1, 1)
    return pl.DataFrame({"timestamp": [t0 + timedelta(minutes=i) for i in range(r.size)], "return": r})


def test_selection_statistics_of_a_sweep_give_dsr_and_pbo_consistent_with_the_statistics_package():
    from signalflow_gym.experiment.statistics import deflated_sharpe_ratio_of_returns, sharpe_ratio

    rng = np.random.default_rng(3)
    returns = {i: rng.normal(0.0002 * i, 0.01, 400) for i in range(6)}
    best = max(returns, key=lambda i: sharpe_ratio(returns[i]))
    stats = selection_statistics({i: _returns_frame(r) for i, r in returns.items()}, best)
    d, p = stats["deflated_sharpe"], stats["pbo"]
    assert stats["n_trials"] == 6 and d["n_trials"] == 6 and d["best_trial"] == best
    expected = deflated_sharpe_ratio_of_returns(returns[best], trial_sharpes=[sharpe_ratio(r) for r in returns.values()])
    assert d["value"] == pytest.approx(expected) and 0.0 <= d["value"] <= 1.0
    assert d["skewness"] == pytest.approx(scipy.stats.skew(returns[best]))
    assert d["kurtosis"] == pytest.approx(scipy.stats.kurtosis(returns[best], fisher=False))
    assert d["trials_sharpe_variance"] == pytest.approx(np.var([sharpe_ratio(r) for r in returns.values()], ddof=1))
    assert 0.0 <= p["value"] <= 1.0 and p["partitions"] == 16 and p["combinations"] == 12870 and p["n_bars"] == 400
    md = selection_markdown(stats)
    assert f"DSR = {d['value']:.3f}" in md and f"PBO = {p['value']:.3f}" in md


def test_selection_statistics_say_why_when_a_number_cannot_be_given():
    flat = _returns_frame(np.zeros(50))
    one = selection_statistics({0: flat}, 0)
    assert one["pbo"]["value"] is None and "CSCV needs at least 2 scored trials, the sweep has 1" in one["pbo"]["reason"]
    assert one["deflated_sharpe"]["value"] is None and "never traded" in one["deflated_sharpe"]["reason"]
    assert "not computed: CSCV needs at least 2" in selection_markdown(one)
    shifted = _returns_frame(np.random.default_rng(0).normal(0, 0.01, 60))
    other = shifted.with_columns(pl.col("timestamp") + timedelta(hours=1))
    apart = selection_statistics({0: shifted, 1: other}, 1)
    assert apart["pbo"]["value"] is None and "different bars" in apart["pbo"]["reason"]
    assert apart["deflated_sharpe"]["value"] is not None
    tied = selection_statistics({0: flat, 1: flat, 2: flat}, 0)  # no trial traded: nothing was selected
    assert tied["pbo"]["value"] is None and "every trial has the same validation returns" in tied["pbo"]["reason"]
    same = _returns_frame(np.random.default_rng(1).normal(0, 0.01, 60))
    twins = selection_statistics({0: same, 1: same}, 0)["pbo"]
    assert twins["value"] is None and "every trial has the same validation returns" in twins["reason"]
    none = selection_statistics({}, None)
    assert none["deflated_sharpe"]["reason"] == "no trial was scored"


def test_bar_returns_compound_back_to_the_equity_curve():
    eq = np.array([101.0, 99.0, 103.0])
    r = bar_returns(eq, 100.0)
    np.testing.assert_allclose(100.0 * np.cumprod(1 + r), eq)
    with pytest.raises(ConfigError, match="initial_capital"):
        bar_returns(eq, 0.0)
