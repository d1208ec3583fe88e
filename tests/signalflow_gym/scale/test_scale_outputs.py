"""Walk-forward and sweep: too few bars per window refused with the minimum, reruns refused, before Ray starts."""

from __future__ import annotations

import re

import pytest

from scaletest_helpers import tiny_config
from signalflow.core.errors import ConfigError


@pytest.fixture()
def no_ray(monkeypatch):
    """Make starting Ray an error: everything tested here must be refused before."""
    pytest.importorskip("ray")
    import signalflow_gym.scale.ray_utils as ray_utils

    def refuse(*args, **kwargs):
        raise AssertionError("Ray was started")

    monkeypatch.setattr(ray_utils, "init_ray", refuse)


@pytest.fixture(scope="module")
def data():
    from signalflow_gym.experiment import load_data

    return load_data(tiny_config("data.synthetic.n_bars=2000").data)


def test_plan_folds_refuses_test_windows_below_the_minimum_and_names_the_largest_fold_count():
    from signalflow_gym.scale.walkforward import plan_folds

    with pytest.raises(ConfigError, match=r"^500 folds over 2000 bars leave test windows of 3 bars, fewer than the 100 "
                                          r"each needs; use fewer folds \(at most 19\), or more data$"):
        plan_folds(2000, 500, min_train_bars=100, min_test_bars=100)
    assert len(plan_folds(2000, 19, min_train_bars=100, min_test_bars=100)) == 19
    with pytest.raises(ConfigError, match=r"fewer than the 100 each needs"):
        plan_folds(2000, 20, min_train_bars=100, min_test_bars=100)
    with pytest.raises(ConfigError, match=r"leave the first fold 50 training bars of 2000, fewer than the 100 needed; "
                                          r"use fewer folds \(at most 9\)"):
        plan_folds(2000, 10, test_bars=195, min_train_bars=100, min_test_bars=100)


def test_walkforward_of_500_three_bar_folds_refused_before_ray(no_ray, data, tmp_path):
    from signalflow_gym.scale import walk_forward

    with pytest.raises(ConfigError, match=r"500 folds over 2000 bars leave test windows of 3 bars, fewer than the 100 "
                                          r"each needs; use fewer folds \(at most 19\)"):
        walk_forward(tiny_config(), tmp_path / "wf", folds=500, data=data)
    assert not (tmp_path / "wf").exists()


def test_walkforward_rerun_into_a_complete_one_refused_with_the_flag(no_ray, data, tmp_path):
    from signalflow_gym.outputs import mark_complete
    from signalflow_gym.scale import walk_forward

    out = tmp_path / "wf"
    out.mkdir()
    (out / "report.md").write_text("an earlier walk-forward")
    mark_complete(out, kind="walkforward")
    with pytest.raises(ConfigError, match=r"already holds a complete walk-forward .*; pass --overwrite to replace it"):
        walk_forward(tiny_config(), out, folds=3, data=data)


def test_sweep_whose_splits_are_too_short_refused_before_ray(no_ray, data, tmp_path):
    pytest.importorskip("ray.tune")
    from signalflow_gym.scale import tune_sweep

    space = {"space": {"train.algo_kwargs.learning_rate": [1.0e-4, 1.0e-3]}}
    with pytest.raises(ConfigError, match=r"the validation split has 400 bars, fewer than `env.episode.length`"):
        tune_sweep(tiny_config("env.episode.length=500"), space, tmp_path / "sweep", data=data)
    with pytest.raises(ConfigError, match=r"`rungs` must be at most `train.total_timesteps` \(256\)"):
        tune_sweep(tiny_config(), space, tmp_path / "sweep", data=data, asha=True, rungs=300)
    assert not (tmp_path / "sweep").exists()


@pytest.mark.parametrize("seeds", [0, -1, 1.5, True, "x", 2.0])
def test_walkforward_refuses_a_random_seed_count_below_one_before_any_fold_trains(no_ray, data, tmp_path, seeds):
    from signalflow_gym.scale import walk_forward

    with pytest.raises(ConfigError, match=rf"^`n_random_seeds` must be an integer >= 1, was {re.escape(repr(seeds))}; "
                                          r"checked before any fold trains; pass e\.g\. n_random_seeds=5"):
        walk_forward(tiny_config(), tmp_path / "wf", folds=2, data=data, n_random_seeds=seeds)
    assert not (tmp_path / "wf").exists()
