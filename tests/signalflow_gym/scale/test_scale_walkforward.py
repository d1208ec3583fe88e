"""Walk-forward on a local Ray (2 CPUs): 3 folds, 3 run packages, out-of-sample periods after training."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from scaletest_helpers import tiny_config

GAP = 15


@pytest.fixture(scope="module")
def walkforward_run(ray_local, tmp_path_factory):
    from signalflow_gym.experiment import load_data
    from signalflow_gym.scale import walk_forward

    config = tiny_config("train.seed=5")
    data = load_data(config.data)
    out = tmp_path_factory.mktemp("wf") / "out"
    report = walk_forward(config, out, folds=3, scheme="expanding", gap=GAP, data=data)
    return config, data, out, report


def test_three_folds_give_three_run_packages_and_a_report(walkforward_run):
    from signalflow_gym.run_package import load_run_package

    config, _, out, report = walkforward_run
    assert report["n_failed"] == 0 and [f["status"] for f in report["folds"]] == ["ok"] * 3
    for k in range(3):
        pkg = load_run_package(out / f"fold_{k}" / "run")  # checksums and spaces verified
        exp = pkg.manifest["extra"]["experiment"]
        assert exp["train"]["seed"] == config.train.seed + k  # fold seed = base seed + fold
        assert (out / f"fold_{k}" / "test" / "report.json").is_file()
        assert (out / f"fold_{k}" / "test" / "trades.png").read_bytes()[:4] == b"\x89PNG"  # the fold's trades
    for name in ("folds.parquet", "folds.md", "oos_equity.parquet", "equity.png", "profile.png", "report.json",
                 "plan.json"):
        assert (out / name).is_file(), name
    folds = pl.read_parquet(out / "folds.parquet")
    assert sorted(set(folds["fold"].to_list())) == [0, 1, 2]
    assert {"agent", "hold", "random_mean", "threshold", "buy_and_hold"} <= set(folds["policy"].to_list())
    assert set(report["stitched"]) == {"agent", "hold", "threshold", "buy_and_hold"}
    # one seed per fold: point estimates over the folds, no intervals, and the report says why
    scores = report["scores"]
    assert scores["n_runs"] == 3 and not scores["intervals"] and "at least 2 runs (seeds)" in scores["note"]
    agent = folds.filter(pl.col("policy") == "agent")["total_return"].to_numpy()
    assert scores["policies"]["agent"]["total_return"]["mean"]["value"] == pytest.approx(agent.mean())
    assert scores["policies"]["agent"]["total_return"]["mean"]["low"] is None


def test_the_walkforward_folder_is_one_complete_result_whose_paths_name_it(walkforward_run):
    from signalflow_gym.outputs import verify_complete

    _, _, out, report = walkforward_run
    verify_complete(out, kind="walkforward")
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary sibling left
    on_disk = json.loads((out / "report.json").read_text())
    for fold in (*report["folds"], *on_disk["folds"]):
        assert Path(fold["run_dir"]).parent.parent == out and Path(fold["run_dir"]).is_dir()
        assert Path(fold["report_dir"]).is_dir()
        assert (Path(fold["report_dir"]) / json.loads((Path(fold["report_dir"]) / "report.json").read_text())
                ["run"]["run_dir"]).resolve() == Path(fold["run_dir"]).resolve()
    assert all(Path(p).is_file() for p in on_disk["files"].values())


def test_out_of_sample_periods_never_overlap_training(walkforward_run):
    _, (raw, _), out, _ = walkforward_run
    all_ts = raw["timestamp"].unique().sort()
    stitched = pl.read_parquet(out / "oos_equity.parquet")
    assert stitched["timestamp"].is_sorted() and stitched["timestamp"].n_unique() == stitched.height
    for k in range(3):
        # what the model trained on: the period recorded from its training data
        train = json.loads((out / f"fold_{k}" / "run" / "manifest.json").read_text())["extra"]["periods"]["train"]
        train_start, train_end = datetime.fromisoformat(train["start"]), datetime.fromisoformat(train["end"])
        # what it was scored on: the timestamps of its backtest and of the stitched curve
        tested = pl.read_parquet(out / f"fold_{k}" / "test" / "bars.parquet")["timestamp"]
        oos = stitched.filter(pl.col("fold") == k)["timestamp"]
        assert oos.n_unique() == tested.n_unique() > 0
        assert tested.min() > train_end and oos.min() > train_end
        between = all_ts.filter((all_ts > train_end) & (all_ts < tested.min()))
        assert between.len() == GAP  # the gap, in bars of the data
        # every later fold's test window is also after this fold's training window
        for j in range(k, 3):
            assert stitched.filter(pl.col("fold") == j)["timestamp"].min() > train_end
        assert train_start == all_ts[0]  # expanding
    # the stitched curve continues each fold from the previous fold's end
    ends = stitched.group_by("fold", maintain_order=True).agg(pl.col("agent").last())["agent"].to_list()
    assert ends[-1] == pytest.approx(stitched["agent"][-1])


def test_a_fold_is_reproducible_from_its_seed_and_saved_config(walkforward_run, tmp_path):
    from signalflow_gym.experiment.config import ExperimentConfig
    from signalflow_gym.scale.walkforward import run_fold

    _, (raw, signals), out, report = walkforward_run
    record = json.loads((out / "fold_1" / "fold.json").read_text())
    saved = ExperimentConfig.from_yaml(out / "experiment.yaml")
    again = run_fold(saved, record, raw, signals, tmp_path / "fold_1", plot=False)
    first = next(f for f in report["folds"] if f["index"] == 1)
    assert again["report"]["agent"] == first["report"]["agent"]
    assert again["train_period"] == first["train_period"] and again["test_period"] == first["test_period"]


def test_folds_md_links_the_equity_picture_only_when_it_is_drawn(walkforward_run):
    from signalflow_gym.scale.walkforward_report import folds_markdown

    _, _, out, report = walkforward_run
    assert "](equity.png)" in (out / "folds.md").read_text() and (out / "equity.png").is_file()
    folds = pl.read_parquet(out / "folds.parquet")
    assert "](equity.png)" not in folds_markdown(folds, report["stitched"], report, plotted=False)
    assert "](equity.png)" in folds_markdown(folds, report["stitched"], report, plotted=True)
    assert "](equity.png)" not in folds_markdown(folds, {}, report, plotted=True)  # nothing stitched: no picture
