"""A walk-forward over 2 folds x 2 seeds (sequential backend, no Ray): one run per fold and seed,
scores over folds x seeds with intervals and probabilities of improvement, per-fold reports."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import polars as pl
import pytest
import scipy.stats

from scaletest_helpers import tiny_config

SEEDS = [3, 4]


@pytest.fixture(scope="module")
def multiseed_run(tmp_path_factory):
    import torch

    from signalflow_gym.experiment import load_data
    from signalflow_gym.scale import walk_forward

    torch.set_num_threads(1)
    config = tiny_config("train.seeds=[3, 4]", "data.synthetic.n_bars=1200", "train.total_timesteps=128")
    data = load_data(config.data)
    out = tmp_path_factory.mktemp("wf_seeds") / "out"
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):  # (the progress bar's stream)
        report = walk_forward(config, out, folds=2, data=data, backend="sequential", progress=True)
    return out, report, stderr.getvalue()


def test_each_fold_trains_every_seed_and_the_report_holds_their_runs(multiseed_run):
    from signalflow_gym.outputs import verify_complete
    from signalflow_gym.run_package import load_run_package

    out, report, _ = multiseed_run
    verify_complete(out, kind="walkforward")
    assert report["n_failed"] == 0 and report["seeds"] == SEEDS and report["n_runs"] == 4
    assert [(f["index"], f["seed"]) for f in report["folds"]] == [(0, 3), (0, 4), (1, 3), (1, 4)]
    for k in range(2):
        for s in SEEDS:
            pkg = load_run_package(out / f"fold_{k}" / f"seed_{s}" / "run")
            assert pkg.manifest["extra"]["experiment"]["train"]["seed"] == s
            assert pkg.manifest["extra"]["experiment"]["train"]["seeds"] == []  # one run per task
            assert json.loads((out / f"fold_{k}" / f"seed_{s}" / "fold.json").read_text())["seed"] == s
    folds = pl.read_parquet(out / "folds.parquet")
    assert folds.filter(pl.col("policy") == "agent").height == 4
    stitched = pl.read_parquet(out / "oos_equity.parquet")
    assert {"agent_seed3", "agent_seed4", "threshold", "buy_and_hold"} <= set(stitched.columns)
    assert set(report["stitched"]) >= {"agent_seed3", "agent_seed4"}
    assert json.loads((out / "plan.json").read_text())["folds"][0]["seeds"] == SEEDS
    for name in ("equity.png", "profile.png"):  # the seeds' curves with their band; performance profiles
        assert (out / name).read_bytes()[:4] == b"\x89PNG" and report["files"][name.replace(".", "_")] == str(out / name)


def _check_interval(est):
    assert est["low"] is not None and est["low"] <= est["value"] + 1e-12 <= est["high"] + 2e-12


def test_scores_carry_aggregates_with_intervals_and_probabilities_of_improvement(multiseed_run):
    out, report, _ = multiseed_run
    on_disk = json.loads((out / "report.json").read_text())["scores"]
    assert on_disk["intervals"] and on_disk["n_folds"] == 2 and on_disk["runs_per_fold"] == {"0": 2, "1": 2}
    folds = pl.read_parquet(out / "folds.parquet")
    for policy in ("agent", "hold", "random_mean", "threshold", "buy_and_hold"):
        for metric in ("total_return", "sharpe"):
            entry = on_disk["policies"][policy][metric]
            values = folds.filter((pl.col("policy") == policy) & (pl.col("status") == "ok"))[metric].to_numpy()
            assert entry["mean"]["value"] == pytest.approx(np.mean(values))
            assert entry["median"]["value"] == pytest.approx(np.median(values))
            assert entry["iqm"]["value"] == pytest.approx(scipy.stats.trim_mean(values, 0.25))
            for name in ("mean", "median", "iqm"):
                _check_interval(entry[name])
    agent = folds.filter(pl.col("policy") == "agent")
    for baseline in ("hold", "random_mean", "threshold", "buy_and_hold"):
        poi = on_disk["probability_of_improvement"][baseline]["total_return"]
        _check_interval(poi)
        assert 0.0 <= poi["low"] and poi["high"] <= 1.0
        # by hand: per fold, the share of (agent seed, baseline seed) pairs the agent wins (ties 1/2)
        base = folds.filter(pl.col("policy") == baseline)
        shares = []
        for k in range(2):
            a = agent.filter(pl.col("fold") == k)["total_return"].to_numpy()
            b = base.filter(pl.col("fold") == k)["total_return"].to_numpy()
            shares.append(np.mean([(x > y) + 0.5 * (x == y) for x in a for y in b]))
        assert poi["value"] == pytest.approx(np.mean(shares))
    md = (out / "report.md").read_text()
    assert "Over folds x seeds: 4 runs in 2 folds" in md and "Probability of improvement of the agent" in md


def test_every_fold_has_its_own_report_over_its_seeds(multiseed_run):
    out, report, _ = multiseed_run
    for k in range(2):
        fold = json.loads((out / f"fold_{k}" / "report.json").read_text())
        assert fold["fold"] == k and fold["scores"]["n_folds"] == 1 and fold["scores"]["n_runs"] == 2
        _check_interval(fold["scores"]["policies"]["agent"]["total_return"]["iqm"])
        assert "threshold" in fold["scores"]["probability_of_improvement"]
        assert "Over folds x seeds: 2 runs in 1 folds" in (out / f"fold_{k}" / "report.md").read_text()
        assert report["fold_reports"][str(k)] == str(out / f"fold_{k}" / "report.json")


def test_the_progress_bar_counts_the_fold_runs_as_they_finish(multiseed_run):
    _, _, stderr = multiseed_run
    assert "fold runs" in stderr and "0/4" in stderr and "4/4" in stderr
