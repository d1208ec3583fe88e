"""What the scale commands refuse before any work: a sweep's trials (every config, one set of
splits), Ray asked for CPUs it does not have, options that would do nothing. No training."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaletest_helpers import TINY, tiny_config
from signalflow.core.errors import ConfigError
from signalflow_gym.experiment.config import apply_overrides
from signalflow_gym.scale.trial_checks import check_trial_splits, trial_configs
from signalflow_gym.scale.trials import SweepSpace, expand_trials
from signalflow_gym.scale.walkforward import plan_folds


@pytest.fixture
def ray_never_starts(monkeypatch):
    """Fail the test if the code under test starts Ray."""
    import signalflow_gym.scale.ray_utils as ray_utils

    def refuse(*args, **kwargs):
        raise AssertionError("Ray was started: the refusal came too late")

    monkeypatch.setattr(ray_utils, "init_ray", refuse)


@pytest.mark.parametrize("space, match", [
    ({"train.algo_kwargs.batch_size": [64, 0]},
     r"^trial 1 \(train\.algo_kwargs\.batch_size=0\) of the sweep space: `train\.algo_kwargs\.batch_size` must be "
     r"an integer >= 1, was 0"),
    ({"train.algo_kwargs.learning_rate": [1.0e-3, "nan"]}, r"^trial 1 .*`train\.algo_kwargs\.learning_rate` must be"),
    ({"train.algo_kwargs.learning_rate": [1.0e-3, -1.0]}, r"^trial 1 .*`train\.algo_kwargs\.learning_rate` must be"),
    ({"train.total_timestep": [100]},
     r"^trial 0 .*unknown key `train\.total_timestep` in section `train`; did you mean `total_timesteps`"),
    ({"env.episode.length": [100, 5000]}, r"^trial 1 \(env\.episode\.length=5000\) .*split"),
    ({"data.synthetic.n_bars": [3000, 4000]},
     r"^trial 1 \(data\.synthetic\.n_bars=4000\) of the sweep space has its train split at .* the trials must "
     r"share their splits .* do not vary `data\.synthetic\.n_bars`"),
])
def test_a_sweep_refuses_a_bad_trial_before_ray_starts_and_writes_nothing(ray_never_starts, space, match, tmp_path):
    pytest.importorskip("ray.tune")
    from signalflow_gym.scale import tune_sweep

    with pytest.raises(ConfigError, match=match):
        tune_sweep(tiny_config(), {"space": space}, tmp_path / "sweep")
    assert list(tmp_path.iterdir()) == []


def test_trials_that_change_the_market_but_not_its_timestamps_share_their_splits():
    cfg = tiny_config()
    specs = expand_trials(SweepSpace({"space": {"data.synthetic.signal_rate": [0.02, 0.05],
                                                "data.synthetic.volatility": [0.004, 0.006]}}))
    check_trial_splits(trial_configs(cfg, specs), specs, None)  # no error: the same bars' times for all four
    moved = expand_trials(SweepSpace({"space": {"data.synthetic.n_bars": [3000, 3000 + 1]}}))
    with pytest.raises(ConfigError, match="must share their splits"):
        check_trial_splits(trial_configs(cfg, moved), moved, None)


def test_building_one_trial_config_leaves_the_base_and_the_next_trial_alone():
    base = tiny_config().to_dict()
    before = repr(base)
    apply_overrides(base, ["train.algo_kwargs.batch_size=0", "env.episode.length=7"])
    assert repr(base) == before  # the nested sections were copied, not written through
    merged = apply_overrides(base, [])
    merged["data"]["fractions"].append(0.5)
    merged["env"]["features"]["signal_columns"] = ["changed"]
    assert repr(base) == before  # nor are the lists and sections of the result shared with it
    specs = [{"train.algo_kwargs.batch_size": 32}, {"train.algo_kwargs.learning_rate": 0.01}]
    first, second = trial_configs(tiny_config(), specs)
    assert first.train.algo_kwargs["batch_size"] == 32
    assert second.train.algo_kwargs["batch_size"] == 64 and second.train.algo_kwargs["learning_rate"] == 0.01


@pytest.mark.parametrize("data, match", [
    ({"space": {"train.algo_kwargs.gamma": [0.99, 0.99]}}, r"`space\.train\.algo_kwargs\.gamma` lists 0\.99 twice"),
    ({"space": {"train.algo_kwargs.learning_rate": ["1e-4", 1.0e-4]}}, r"lists 0\.0001 twice"),
    ({"seeds": [0, 0]}, r"`seeds` lists seed 0 twice"),
    ({"seeds": 0}, r"`seeds` as a count must be >= 1, was 0"),
    ({"seeds": -1}, r"`seeds` as a count must be >= 1, was -1"),
    ({"space": {"train.seeds": [[0, 1]]}}, r"use `seeds:` rather than `space: \{train\.seeds: \.\.\.\}`"),
])
def test_sweep_space_refuses_repeated_trials_and_seed_lists(data, match):
    with pytest.raises(ConfigError, match=match):
        SweepSpace(data)


def test_a_trial_whose_data_cannot_be_loaded_is_named():
    specs = [{"data.detector": "momentum", "data.detector_kwargs": {"window": 20}},
             {"data.detector": "momentum", "data.detector_kwargs": {"windw": 40}}]
    with pytest.raises(ConfigError, match=r"^trial 1 \(data\.detector=\"momentum\", data\.detector_kwargs=.*windw.*\) of "
                                          r"the sweep space: "):
        check_trial_splits(trial_configs(tiny_config(), specs), specs, None)


def test_a_split_mismatch_names_only_the_keys_that_moved_it():
    specs = [{"data.synthetic.n_bars": 3000, "data.synthetic.signal_rate": 0.02},
             {"data.synthetic.n_bars": 4000, "data.synthetic.signal_rate": 0.02}]
    with pytest.raises(ConfigError, match=r"do not vary `data\.synthetic\.n_bars` in the space, run one sweep per "
                                          r"market instead \(--set data\.synthetic\.n_bars=\.\.\.\)$"):
        check_trial_splits(trial_configs(tiny_config(), specs), specs, None)


def test_sweep_space_reads_yaml_number_strings_as_the_numbers_they_spell():
    space = SweepSpace({"space": {"train.total_timesteps": ["1e3", "2E4"],
                                  "train.algo_kwargs.learning_rate": ["1e-4", "3.0e2"]}})
    assert space.space["train.total_timesteps"] == [1000, 20000]
    assert all(type(v) is int for v in space.space["train.total_timesteps"])  # fits an integer key
    assert space.space["train.algo_kwargs.learning_rate"] == [1e-4, 300.0]
    assert trial_configs(tiny_config(), expand_trials(space))[0].train.total_timesteps == 1000
    kept = SweepSpace({"space": {"train.device": ["0", " 12 ", "1_000", "1e400"]}}).space["train.device"]
    assert kept == ["0", " 12 ", "1_000", "1e400"]  # not an exponent YAML misread, or beyond a float: as written
    with pytest.raises(ConfigError, match=r"lists null twice"):
        SweepSpace({"space": {"data.signals": [None, None]}})


def test_random_search_draws_each_trial_at_most_once():
    space = SweepSpace({"search": "random", "seeds": [0, 1],
                        "space": {"train.algo_kwargs.gamma": [0.9, 0.99, 0.999]}})
    for n in range(1, 7):
        drawn = expand_trials(space, n)
        assert len(drawn) == n and len({tuple(sorted(t.items())) for t in drawn}) == n
        assert drawn == expand_trials(space, n)  # the same draws every time
    with pytest.raises(ConfigError, match=r"`--trials` 7 is more than the 6 distinct trials"):
        expand_trials(space, 7)


def test_local_ray_refuses_runs_that_ask_for_more_cpus_than_it_has(ray_local):
    from signalflow_gym.scale.ray_utils import init_ray

    assert init_ray(cpus_per_task=2) is ray_local  # the fixture's Ray has 2 CPUs
    with pytest.raises(ConfigError, match=r"each run asks Ray for 3 CPUs .* the local Ray instance has 2, so no run "
                                          r"could ever start; lower train\.n_envs, use train\.vec_env=dummy, or start "
                                          r"Ray with more CPUs"):  # (Ray was started by the caller: --num-cpus is moot)
        init_ray(cpus_per_task=3)


def test_num_cpus_may_be_a_numpy_integer(ray_local):
    import numpy as np

    from signalflow_gym.scale.ray_utils import init_ray

    assert init_ray(num_cpus=np.int64(2)) is ray_local


@pytest.mark.parametrize("num_cpus", [0, -1, 1.5, True])
def test_num_cpus_must_be_a_positive_integer(num_cpus):
    from signalflow_gym.scale.ray_utils import init_ray

    with pytest.raises(ConfigError, match=r"`num_cpus` \(--num-cpus\) must be an integer >= 1"):
        init_ray(num_cpus=num_cpus)


def test_a_sweep_asks_ray_for_each_trials_own_cpus_and_refuses_one_that_cannot_fit(ray_local, tmp_path):
    from signalflow_gym.scale import tune_sweep

    cfg = tiny_config("train.vec_env=subproc")  # the base config's n_envs is 1
    with pytest.raises(ConfigError, match="each run asks Ray for 3 CPUs"):
        tune_sweep(cfg, {"space": {"train.n_envs": [1, 3]}}, tmp_path / "sweep")
    assert list(tmp_path.iterdir()) == []


def test_a_walkforward_asking_for_more_cpus_than_ray_has_is_refused_before_any_fold(ray_local, tmp_path):
    from signalflow_gym.scale import walk_forward

    cfg = tiny_config("train.n_envs=3", "train.vec_env=subproc")
    with pytest.raises(ConfigError, match="each run asks Ray for 3 CPUs"):
        walk_forward(cfg, tmp_path / "wf", folds=2)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, match", [
    (["walkforward", "--config", "configs/ppo.yaml", "--folds", "2", "--sequential", "--num-cpus", "2"],
     "--num-cpus and --address set up Ray, which --sequential does not use"),
    (["walkforward", "--config", "configs/ppo.yaml", "--folds", "2", "--sequential", "--train-bars", "500"],
     "`train_bars` (500) is the rolling window's length"),
    (["sweep", "--config", "configs/ppo.yaml", "--space", "configs/sweep.yaml", "--rungs", "4"],
     "--rungs 4 is the number of ASHA steps per trial; add --asha"),
])
def test_options_that_would_do_nothing_exit_2(argv, match, capsys, tmp_path):
    if argv[0] == "sweep":
        pytest.importorskip("ray.tune")
    from signalflow_gym.cli import main

    tiny = [arg for item in TINY for arg in ("--set", item)]  # (were it not refused, it would run briefly)
    assert main([*argv, *tiny, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err
    assert not (tmp_path / "out").exists()


def test_a_sweep_with_a_failed_trial_exits_1(monkeypatch, tmp_path):
    pytest.importorskip("ray.tune")
    import signalflow_gym.scale.sweep_run as sweep_run
    from signalflow_gym.cli import main

    def fake_tune_sweep(config, space, out, **kwargs):
        (tmp_path / "results.md").write_text("ranked")
        return {"best": {"trial": 0}, "n_failed": 1, "files": {"results_md": str(tmp_path / "results.md"),
                                                                "best": str(tmp_path / "best")}}

    monkeypatch.setattr(sweep_run, "tune_sweep", fake_tune_sweep)
    assert main(["sweep", "--config", "configs/ppo.yaml", "--space", "configs/sweep.yaml"]) == 1


@settings(max_examples=300, deadline=None)
@given(n_bars=st.integers(50, 4000), n_folds=st.integers(2, 60), gap=st.integers(0, 80),
       need=st.integers(1, 120), test_bars=st.one_of(st.none(), st.integers(1, 400)))
def test_the_fold_count_a_refusal_advises_fits(n_bars, n_folds, gap, need, test_bars):
    try:
        plan_folds(n_bars, n_folds, gap=gap, test_bars=test_bars, min_train_bars=need, min_test_bars=need)
    except ConfigError as exc:
        text = str(exc)
        if "at most " in text:
            most = int(text.split("at most ")[1].split(")")[0])
            assert 1 <= most < n_folds
            folds = plan_folds(n_bars, most, gap=gap, test_bars=test_bars, min_train_bars=need, min_test_bars=need)
            assert len(folds) == most
