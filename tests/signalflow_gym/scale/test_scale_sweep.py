"""Ray Tune sweeps on a local Ray (2 CPUs): ranking, the best package, failed trials, ASHA."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from scaletest_helpers import tiny_config


@pytest.fixture(scope="module")
def data():
    from signalflow_gym.experiment import load_data

    return load_data(tiny_config().data)


def test_four_trial_sweep_ranks_by_validation_metric_and_saves_the_best(ray_local, data, tmp_path):
    from signalflow_gym.run_package import load_run_package
    from signalflow_gym.scale import tune_sweep

    space = {"metric": "total_return", "seeds": [0, 1],
             "space": {"train.algo_kwargs.learning_rate": [1.0e-4, 1.0e-3]}}
    report = tune_sweep(tiny_config(), space, tmp_path / "sweep", data=data)
    df = pl.read_parquet(tmp_path / "sweep" / "results.parquet")
    assert df.height == 4 and df["status"].to_list() == ["ok"] * 4
    values = df["validation_total_return"].to_list()
    assert values == sorted(values, reverse=True) and df["rank"].to_list() == [1, 2, 3, 4]
    # each trial's score is its own validation report
    for row in df.iter_rows(named=True):
        rep = json.loads((tmp_path / "sweep" / "trials" / f"trial_{row['trial']:03d}" / "validation" /
                          "report.json").read_text())
        assert rep["agent"]["total_return"] == pytest.approx(row["validation_total_return"])
        assert rep["period"]["split"] == "all"
    best = report["best"]
    assert best["trial"] == df["trial"][0]
    pkg = load_run_package(tmp_path / "sweep" / "best")
    exp = pkg.manifest["extra"]["experiment"]
    assert exp["train"]["seed"] == df["train.seed"][0]
    assert exp["train"]["algo_kwargs"]["learning_rate"] == df["train.algo_kwargs.learning_rate"][0]
    assert pkg.manifest["extra"]["periods"]["train"]["end"] < pkg.manifest["extra"]["periods"]["validation"]["start"]
    md = (tmp_path / "sweep" / "results.md").read_text()
    assert "ranked by validation total_return" in md and "Best: trial" in md
    # one complete result at its place, whose recorded paths name it
    from signalflow_gym.outputs import verify_complete

    verify_complete(tmp_path / "sweep", kind="sweep")
    verify_complete(tmp_path / "sweep" / "best", kind="train")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep"]
    assert all(Path(r).is_dir() and Path(r).parents[2] == tmp_path / "sweep" for r in df["run_dir"].to_list())
    assert json.loads((tmp_path / "sweep" / "best" / "sweep" / "trial.json").read_text())["trial"] == best["trial"]
    # every trial's per-bar validation returns compound to its validation total return
    capital = tiny_config().env.broker.initial_capital
    for row in df.iter_rows(named=True):
        r = pl.read_parquet(tmp_path / "sweep" / "trials" / f"trial_{row['trial']:03d}" / "validation_returns.parquet")
        assert float(np.prod(1.0 + r["return"].to_numpy())) - 1.0 == pytest.approx(row["validation_total_return"])
        assert r["equity"][-1] == pytest.approx(capital * (1.0 + row["validation_total_return"]))
    # the overfitting statistics of the search, beside best/ and in results.md
    selection = json.loads((tmp_path / "sweep" / "selection.json").read_text())
    assert selection == json.loads((tmp_path / "sweep" / "best" / "sweep" / "selection.json").read_text())
    dsr, pbo = selection["deflated_sharpe"], selection["pbo"]
    assert selection["n_trials"] == 4 and dsr["n_trials"] == 4 and dsr["best_trial"] == best["trial"]
    if dsr["value"] is None:  # a best trial that never traded has no DSR, and says so
        assert "never traded" in dsr["reason"] and "Deflated Sharpe Ratio of the best trial: not computed" in md
    else:
        assert 0.0 <= dsr["value"] <= 1.0 and dsr["trials_sharpe_variance"] >= 0.0 and dsr["n_bars"] > 100
        assert {"skewness", "kurtosis", "sharpe_per_bar", "expected_max_sharpe"} <= set(dsr)
        assert f"DSR = {dsr['value']:.3f}" in md
    assert 0.0 <= pbo["value"] <= 1.0 and pbo["n_trials"] == 4 and pbo["partitions"] == 16
    assert f"PBO = {pbo['value']:.3f}" in md
    assert report["selection"]["pbo"]["value"] == pytest.approx(pbo["value"])


def test_a_failed_trial_is_reported_and_the_others_complete(ray_local, data, tmp_path):
    from signalflow_gym.scale import tune_sweep

    # 1: the config allows it, PPO's constructor refuses it (a value the config refuses, such as 0,
    # is refused for the whole sweep before Ray starts: test_scale_trial_checks.py)
    space = {"space": {"train.algo_kwargs.batch_size": [64, 1, 32]}}
    report = tune_sweep(tiny_config(), space, tmp_path / "sweep", data=data)
    df = pl.read_parquet(tmp_path / "sweep" / "results.parquet")
    assert df.height == 3 and report["n_failed"] == 1
    failed = df.filter(pl.col("status") == "error")
    assert failed["train.algo_kwargs.batch_size"].to_list() == [1]
    assert "batch_size" in failed["error"][0] and failed["rank"][0] is None
    assert df.filter(pl.col("status") == "ok")["rank"].to_list() == [1, 2]
    assert df["status"][-1] == "error"  # failed trials are listed last
    assert (tmp_path / "sweep" / "best" / "model.zip").is_file()
    md = (tmp_path / "sweep" / "results.md").read_text()
    assert "| error |" in md and "batch_size" in md
    selection = json.loads((tmp_path / "sweep" / "selection.json").read_text())
    assert selection["n_trials"] == 2 and selection["pbo"]["n_trials"] == 2  # the failed trial has no returns
    assert not (tmp_path / "sweep" / "trials" / f"trial_{failed['trial'][0]:03d}" / "validation_returns.parquet").exists()


def test_asha_reports_every_rung(ray_local, data, tmp_path):
    from signalflow_gym.scale import tune_sweep

    space = {"metric": "sharpe", "seeds": [0, 1]}
    report = tune_sweep(tiny_config(), space, tmp_path / "sweep", data=data, asha=True, rungs=2)
    df = pl.read_parquet(tmp_path / "sweep" / "results.parquet")
    assert df.height == 2 and set(df["status"].to_list()) <= {"ok", "stopped"}
    assert "ok" in df["status"].to_list()
    for row in df.iter_rows(named=True):
        info = json.loads((tmp_path / "sweep" / "trials" / f"trial_{row['trial']:03d}" / "trial.json").read_text())
        assert [r["timesteps"] for r in info["rungs"]] == [128, 256][: row["rungs"]]
        assert not math.isnan(row["validation_sharpe"])
    assert report["best"] is not None
