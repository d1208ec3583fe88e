"""Fold planning, stitching and sweep-space expansion: pure functions, no Ray."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signalflow.core.errors import ConfigError
from signalflow_gym.scale.ray_utils import RAY_INSTALL_HINT, RayNotInstalledError, require_ray
from signalflow_gym.scale.sweep import SweepSpace, expand_trials, rung_budgets
from signalflow_gym.scale.walkforward import Fold, fold_times, plan_folds, stitch_equity


def assert_valid_plan(folds: list[Fold], n_bars: int, k: int, gap: int, scheme: str) -> None:
    assert [f.index for f in folds] == list(range(k))
    for f in folds:
        assert 0 <= f.train_start < f.train_end <= f.test_start < f.test_end <= n_bars
        assert f.test_start - f.train_end == gap  # the gap, exactly
        # no test bar of any fold lies in its own training window (nor in its gap)
        assert set(range(f.test_start, f.test_end)).isdisjoint(range(f.train_start, f.train_end + gap))
        if scheme == "expanding":
            assert f.train_start == 0
    for a, b in zip(folds, folds[1:]):
        assert b.test_start == a.test_end  # consecutive, non-overlapping test windows
        assert b.train_end > a.train_end  # training moves forward
    assert folds[-1].test_end == n_bars
    if scheme == "rolling":
        assert len({f.train_bars for f in folds}) == 1


@pytest.mark.parametrize("scheme", ["expanding", "rolling"])
@pytest.mark.parametrize("gap", [0, 7])
def test_plan_folds_layout(scheme, gap):
    folds = plan_folds(1000, 4, scheme=scheme, gap=gap)
    assert_valid_plan(folds, 1000, 4, gap, scheme)
    assert all(f.test_bars == 200 for f in folds)
    assert folds[0].train_end == 200 - gap


def test_plan_folds_expanding_grows_rolling_slides():
    exp = plan_folds(100, 3, scheme="expanding", test_bars=20)
    assert [(f.train_start, f.train_end, f.test_start, f.test_end) for f in exp] == [
        (0, 40, 40, 60), (0, 60, 60, 80), (0, 80, 80, 100)]
    roll = plan_folds(100, 3, scheme="rolling", test_bars=20, gap=5, train_bars=30)
    assert [(f.train_start, f.train_end, f.test_start, f.test_end) for f in roll] == [
        (5, 35, 40, 60), (25, 55, 60, 80), (45, 75, 80, 100)]


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 3000), k=st.integers(1, 12), gap=st.integers(0, 50),
       scheme=st.sampled_from(["expanding", "rolling"]), test_bars=st.one_of(st.none(), st.integers(1, 400)),
       min_train=st.integers(1, 100))
def test_plan_folds_never_leaks(n, k, gap, scheme, test_bars, min_train):
    try:
        folds = plan_folds(n, k, scheme=scheme, gap=gap, test_bars=test_bars, min_train_bars=min_train)
    except ConfigError:
        return  # does not fit: refused with an explanation
    assert_valid_plan(folds, n, k, gap, scheme)
    assert all(f.train_bars >= min_train for f in folds)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_bars": 10, "n_folds": 10}, "fewer folds"),
    ({"n_bars": 100, "n_folds": 3, "gap": 30}, "gap"),
    ({"n_bars": 100, "n_folds": 3, "scheme": "sliding"}, "scheme"),
    ({"n_bars": 100, "n_folds": 3, "scheme": "rolling", "train_bars": 90}, "train_bars"),
    ({"n_bars": 100, "n_folds": 0}, "n_folds"),
    ({"n_bars": 100, "n_folds": 2, "gap": -1}, "gap"),
    ({"n_bars": 100, "n_folds": 2, "min_train_bars": 40}, "fewer than the 40"),
])
def test_plan_folds_refuses_what_does_not_fit(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        plan_folds(**kwargs)


def test_fold_times_slices_the_bars_of_the_plan():
    from signalflow.data import slice_by_time

    t0 = datetime(2024, 1, 1)
    ts = [t0 + timedelta(minutes=i) for i in range(50)]
    raw = pl.DataFrame({"pair": ["A"] * 50, "timestamp": ts, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0})
    f = plan_folds(50, 2, gap=3, test_bars=10)[1]
    t = fold_times(ts, f)
    train = slice_by_time(raw, None, t["train_start"], t["train_end"]).raw_data
    test = slice_by_time(raw, None, t["test_start"], t["test_end"]).raw_data
    assert train.height == f.train_bars and test.height == f.test_bars
    assert t["test_end"] is None and t["test_last"] == ts[-1]
    gap_bars = [x for x in ts if train["timestamp"].max() < x < test["timestamp"].min()]
    assert len(gap_bars) == 3


def test_stitch_equity_continues_from_the_previous_fold():
    t0 = datetime(2024, 1, 1)
    a = pl.DataFrame({"timestamp": [t0, t0 + timedelta(minutes=1)], "agent": [100.0, 110.0]})
    b = pl.DataFrame({"timestamp": [t0 + timedelta(minutes=2), t0 + timedelta(minutes=3)], "agent": [100.0, 90.0]})
    s = stitch_equity([a, b], 100.0)
    np.testing.assert_allclose(s["agent"].to_numpy(), [100.0, 110.0, 110.0, 99.0])
    assert s["fold"].to_list() == [0, 0, 1, 1]
    with pytest.raises(ConfigError, match="not after"):
        stitch_equity([b, a], 100.0)


def test_sweep_space_grid_random_and_subset():
    space = SweepSpace({"seeds": [0, 1], "space": {"train.algo_kwargs.learning_rate": ["1e-4", 3.0e-4],
                                                   "train.algo_kwargs.ent_coef": [0.0, 0.01]}})
    assert space.space["train.algo_kwargs.learning_rate"] == [1e-4, 3e-4]  # YAML's "1e-4" string read as a number
    grid = expand_trials(space)
    assert len(grid) == 8 and len({tuple(sorted(t.items())) for t in grid}) == 8
    assert grid[0] == {"train.algo_kwargs.learning_rate": 1e-4, "train.algo_kwargs.ent_coef": 0.0, "train.seed": 0}
    subset = expand_trials(space, 3)
    assert len(subset) == 3 and all(t in grid for t in subset) and subset == expand_trials(space, 3)
    rnd = expand_trials(SweepSpace({**space.to_dict(), "search": "random"}), 5)
    assert len(rnd) == 5 and all(t in grid for t in rnd)
    assert space.mode == "max" and SweepSpace({"metric": "max_drawdown"}).mode == "min"


@pytest.mark.parametrize("data, match", [
    ({"metrc": "sharpe"}, "unknown key"),
    ({"metric": "profit"}, "metric"),
    ({"space": {"lr": [1]}}, "dotted"),
    ({"space": {"train.algo_kwargs.gamma": []}}, "non-empty"),
    ({"seeds": [-1]}, "seeds"),
    ({"search": "bayes"}, "search"),
])
def test_sweep_space_errors(data, match):
    with pytest.raises(ConfigError, match=match):
        SweepSpace(data)


@pytest.mark.parametrize("key, values", [
    ("data.fractions", [[0.6, 0.2, 0.2], [0.6, 0.3, 0.1]]),
    ("data.split_at", [None, ["2024-01-02", "2024-01-03"]]),
])
def test_sweep_space_refuses_keys_that_move_the_splits(key, values):
    # (trial 1's validation would hold bars of trial 0's test split: selecting on it leaks)
    with pytest.raises(ConfigError, match=rf"`space\.{key}` in the sweep space would give the trials different splits"):
        SweepSpace({"space": {key: values}})
    kept = SweepSpace({"space": {"data.synthetic.signal_rate": [0.02, 0.05]}})  # the market, not the split
    assert [t["data.synthetic.signal_rate"] for t in expand_trials(kept)] == [0.02, 0.05]


def test_rung_budgets():
    assert rung_budgets(300, 3) == [100, 200, 300]
    assert rung_budgets(256, 1) == [256]


def test_without_ray_both_commands_exit_2_with_the_install_hint(monkeypatch, capsys):
    from signalflow_gym.cli import main  # what agents/walkforward.py and agents/sweep.py run

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(RayNotInstalledError, match="pip install"):
        require_ray()
    assert main(["walkforward", "--config", "configs/ppo.yaml", "--folds", "3"]) == 2
    assert main(["sweep", "--config", "configs/ppo.yaml", "--space", "configs/sweep.yaml"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert all('pip install "signalflow-gym[ray]"' in line and ": error: " in line for line in err)
    assert RAY_INSTALL_HINT in err[0]


def test_seeds_option_sets_train_seeds_and_sequential_skips_ray(monkeypatch, capsys, tmp_path):
    import signalflow_gym.scale.walkforward_run as walkforward_run
    from signalflow_gym.cli import main

    seen = {}

    def fake_walk_forward(config, out, **kwargs):
        seen.update(config=config, out=out, **kwargs)
        (tmp_path / "folds.md").write_text("the table")
        return {"n_failed": 0, "files": {"folds_md": str(tmp_path / "folds.md")}}

    monkeypatch.setattr(walkforward_run, "walk_forward", fake_walk_forward)
    monkeypatch.setitem(sys.modules, "ray", None)  # --sequential needs no Ray
    code = main(["walkforward", "--config", "configs/ppo.yaml", "--folds", "2", "--seeds", "3", "1", "--sequential",
                 "--set", "train.seed=9", "--out", str(tmp_path / "wf")])
    assert code == 0 and seen["config"].train.seeds == (3, 1) and seen["config"].train.seed == 9
    assert seen["backend"] == "sequential" and seen["folds"] == 2
    assert "the table" in capsys.readouterr().out


def test_sweep_seeds_option_replaces_the_space_seeds(monkeypatch, tmp_path):
    pytest.importorskip("ray.tune")
    import signalflow_gym.scale.sweep_run as sweep_run
    from signalflow_gym.cli import main

    seen = {}

    def fake_tune_sweep(config, space, out, **kwargs):
        seen.update(space=space)
        (tmp_path / "results.md").write_text("ranked")
        return {"best": None, "files": {"results_md": str(tmp_path / "results.md")}}

    monkeypatch.setattr(sweep_run, "tune_sweep", fake_tune_sweep)
    code = main(["sweep", "--config", "configs/ppo.yaml", "--space", "configs/sweep.yaml", "--seeds", "5", "6",
                 "--metric", "max_drawdown", "--out", str(tmp_path / "sweep")])
    assert code == 1  # no trial ranked
    assert seen["space"].seeds == [5, 6] and seen["space"].metric == "max_drawdown" and seen["space"].mode == "min"


def test_sweep_space_replace_validates_again():
    space = SweepSpace({"metric": "sharpe", "space": {"train.algo_kwargs.gamma": [0.9, 0.99]}})
    crossed = space.replace(seeds=[0, 1])
    assert expand_trials(crossed) == [{"train.algo_kwargs.gamma": g, "train.seed": s} for g in (0.9, 0.99) for s in (0, 1)]
    assert space.seeds == []  # the original is unchanged
    with pytest.raises(ConfigError, match="`seeds` must be a list of integers >= 0"):
        space.replace(seeds=[-1])


def test_walkforward_takes_a_trained_experiment_directory_and_either_seed_form(monkeypatch, tmp_path, capsys):
    import signalflow_gym.scale.walkforward_run as walkforward_run
    from signalflow_gym.cli import main
    from signalflow_gym.experiment import ExperimentConfig

    exp_dir = tmp_path / "exp"
    exp_dir.mkdir()
    ExperimentConfig.from_yaml("configs/ppo.yaml", ["train.seeds=[4, 2]", "train.total_timesteps=1234"]).to_yaml(
        exp_dir / "experiment.yaml")
    seen = {}

    def fake_walk_forward(config, out, **kwargs):
        seen.setdefault("configs", []).append(config)
        (tmp_path / "folds.md").write_text("the table")
        return {"n_failed": 0, "files": {"folds_md": str(tmp_path / "folds.md")}}

    monkeypatch.setattr(walkforward_run, "walk_forward", fake_walk_forward)
    monkeypatch.setitem(sys.modules, "ray", None)
    assert main(["walkforward", "--config", str(exp_dir), "--folds", "2", "--sequential", "--out", str(tmp_path / "a")]) == 0
    assert main(["walkforward", "--config", str(exp_dir), "--folds", "2", "--sequential", "--seeds", "7,8",
                 "--out", str(tmp_path / "b")]) == 0
    first, second = seen["configs"]
    assert first.train.seeds == (4, 2) and first.train.total_timesteps == 1234  # the experiment's own config
    assert second.train.seeds == (7, 8)
    (tmp_path / "empty").mkdir()
    assert main(["walkforward", "--config", str(tmp_path / "empty"), "--folds", "2", "--sequential"]) == 2
    assert "is a directory without experiment.yaml" in capsys.readouterr().err
