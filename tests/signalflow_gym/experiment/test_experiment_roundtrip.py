"""train -> evaluate -> export for every algorithm with a tiny budget; --resume; export invariants."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import polars as pl
import pytest

from experiment_helpers import tiny_config
from signalflow_gym.bridge import RLTradingModel
from signalflow_gym.experiment import evaluate, export_episodes, latest_checkpoint, train
from signalflow_gym.run_package import load_run_package

ALGOS = {"ppo": "PPO", "a2c": "A2C", "dqn": "DQN", "maskable_ppo": "MaskablePPO", "recurrent_ppo": "RecurrentPPO"}


@pytest.mark.parametrize("name", list(ALGOS))
def test_train_evaluate_export_round_trip(name, tmp_path):
    cfg = tiny_config(name, "train.vec_normalize=true" if name == "a2c" else "train.vec_normalize=false")
    run_dir = train(cfg, tmp_path / "run", progress=False)

    package = load_run_package(run_dir)
    extra = package.manifest["extra"]
    assert package.manifest["algorithm"] == ALGOS[name]
    assert extra["experiment"] == cfg.to_dict()
    assert extra["num_timesteps"] >= cfg.train.total_timesteps
    assert extra["selected_model"] in ("best_on_validation", "final")
    periods = extra["periods"]
    assert periods["train"]["end"] < periods["validation"]["start"] <= periods["validation"]["end"] < periods["test"]["start"]
    assert len(extra["train_fingerprint"]) == 64
    assert latest_checkpoint(run_dir) is not None
    assert (run_dir / "best" / "best_model.zip").is_file()
    assert package.normalizer is not None if name == "a2c" else package.normalizer is None

    report = evaluate(run_dir, plot=name == "ppo")
    out = run_dir / "evaluation" / "test"
    for f in ("report.json", "report.md", "bars.parquet", "trades.parquet", *(["equity.png"] if name == "ppo" else [])):
        assert (out / f).is_file(), f
    assert set(report["baselines"]) == {"hold", "random", "threshold", "buy_and_hold"}
    assert report["baselines"]["hold"]["total_return"] == 0.0
    assert len(report["baselines"]["random"]["total_returns"]) == 2
    assert report["period"]["start"] == periods["test"]["start"]
    assert json.loads((out / "report.json").read_text())["run"]["algorithm"] == ALGOS[name]
    assert "| agent |" in (out / "report.md").read_text()
    # report.md links exactly the pictures written (none without plots)
    linked = set(re.findall(r"\]\(([^)]+\.png)\)", (out / "report.md").read_text()))
    assert linked == ({"equity.png", "trades.png"} if name == "ppo" else set())
    assert all((out / f).is_file() for f in linked)
    # the report's agent is the package's policy through the bridge, on the same bars
    bars = pl.read_parquet(out / "bars.parquet")
    assert bars.get_column("timestamp").n_unique() == report["period"]["n_bars"]

    ds = export_episodes(tmp_path / "episodes", run_dir=run_dir, episodes=2)
    transitions = pl.read_parquet(ds / "transitions.parquet")
    episodes = pl.read_parquet(ds / "episodes.parquet")
    manifest = json.loads((ds / "manifest.json").read_text())
    assert episodes.height == 2 and transitions.get_column("episode_id").unique().sort().to_list() == [0, 1]
    assert manifest["feature_names"] == list(package.manifest["feature_names"])
    assert [c for c in transitions.columns if c in manifest["feature_names"]] == manifest["feature_names"]
    assert (ds / "episodes" / "00001" / "bars.parquet").is_file()


def test_resume_continues_from_the_latest_checkpoint(tmp_path):
    cfg = tiny_config("ppo", total=256)
    run_dir = train(cfg, tmp_path / "run", progress=False)
    first = load_run_package(run_dir).manifest["extra"]["num_timesteps"]
    _, steps_before = latest_checkpoint(run_dir)
    assert steps_before == first
    progress = run_dir / "tb" / cfg.name / "progress.csv"
    logged_before = pl.read_csv(progress)["time/total_timesteps"].to_list()
    assert logged_before and max(logged_before) <= first

    more = cfg.replace(train={"total_timesteps": 640})
    train(more, run_dir, resume=True, progress=False)
    extra = load_run_package(run_dir).manifest["extra"]
    assert extra["num_timesteps"] > first
    assert extra["num_timesteps"] >= 640
    _, steps_after = latest_checkpoint(run_dir)
    assert steps_after == extra["num_timesteps"]
    # the training curve continues: SB3's CSV writer used to truncate progress.csv on resume
    logged = pl.read_csv(progress)["time/total_timesteps"].to_list()
    assert logged[: len(logged_before)] == logged_before and len(logged) > len(logged_before)
    assert logged == sorted(logged) and max(logged) == steps_after
    # the checkpoint written at the end carries the counter (not restarted from 0)
    from stable_baselines3 import PPO

    assert PPO.load(run_dir / "checkpoints" / f"model_{steps_after}_steps.zip").num_timesteps == steps_after


def test_resume_refuses_a_changed_config_and_a_missing_checkpoint(tmp_path):
    from signalflow.core.errors import ConfigError

    cfg = tiny_config("ppo", total=256)
    with pytest.raises(ConfigError, match="cannot resume: no checkpoint"):
        train(cfg, tmp_path / "none", resume=True, progress=False)
    run_dir = train(cfg, tmp_path / "run", progress=False)
    with pytest.raises(ConfigError, match=r"the config differs .* in env\.sizing"):
        train(cfg.replace(env={"sizing": {"max_positions": 2}}), run_dir, resume=True, progress=False)
    with pytest.raises(ConfigError, match="is not empty; pass --resume"):
        train(cfg, run_dir, progress=False)
    # a budget the run has already reached trains nothing: refused, the run's files untouched
    recorded = (run_dir / "experiment.yaml").read_bytes()
    for total in (256, 128):
        with pytest.raises(ConfigError, match=rf"already trained for \d+ steps and train.total_timesteps is {total}; "
                                              "resume continues to a larger budget"):
            train(tiny_config("ppo", total=total), run_dir, resume=True, progress=False)
    assert (run_dir / "experiment.yaml").read_bytes() == recorded


@pytest.mark.parametrize("policy", ["random", "threshold"])
def test_exported_rewards_sum_to_each_episode_log_return(policy, tmp_path):
    cfg = tiny_config("ppo")
    ds = export_episodes(tmp_path / policy, policy=policy, episodes=4, config=cfg, seed=3)
    transitions = pl.read_parquet(ds / "transitions.parquet")
    episodes = pl.read_parquet(ds / "episodes.parquet").sort("episode_id")
    scale = cfg.env.reward.scale
    sums = transitions.group_by("episode_id").agg(pl.col("reward").sum(), pl.len().alias("n")).sort("episode_id")
    for row, ep in zip(sums.iter_rows(named=True), episodes.iter_rows(named=True)):
        assert row["reward"] / scale == pytest.approx(math.log(1.0 + ep["return"]), abs=1e-9)
        assert row["n"] == ep["length"]
    # last step of each episode ends it; equity matches the episode return
    last = transitions.group_by("episode_id").agg(pl.all().last()).sort("episode_id")
    assert (last["terminated"] | last["truncated"]).all()
    np.testing.assert_allclose(last["equity"].to_numpy() / cfg.env.broker.initial_capital - 1.0, episodes["return"].to_numpy())
    assert set(transitions["action_name"].unique()) <= {"hold", "enter_top", "close_all"}
    if policy == "threshold":
        assert "close_all" not in transitions["action_name"].to_list()


def test_export_is_reproducible_for_a_seed(tmp_path):
    cfg = tiny_config("ppo")
    a = export_episodes(tmp_path / "a", policy="random", episodes=2, config=cfg, seed=7)
    b = export_episodes(tmp_path / "b", policy="random", episodes=2, config=cfg, seed=7)
    assert pl.read_parquet(a / "transitions.parquet").equals(pl.read_parquet(b / "transitions.parquet"))


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_export_refuses_a_seed_that_is_not_a_non_negative_integer(tmp_path, seed):
    from signalflow.core.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"^`seed` must be an integer >= 0 \(it seeds the episode windows\), was {seed!r}$"):
        export_episodes(tmp_path / "x", policy="random", episodes=1, config=tiny_config("ppo"), seed=seed)
    assert not (tmp_path / "x").exists()


def test_evaluate_on_given_data_refuses_overlap_with_training(tmp_path):
    from signalflow.core.errors import ConfigError
    from signalflow_gym.experiment import load_data

    cfg = tiny_config("ppo", total=256)
    run_dir = train(cfg, tmp_path / "run", progress=False)
    raw, signals = load_data(cfg.data)
    with pytest.raises(ConfigError, match="overlaps the training period"):
        evaluate(run_dir, data=(raw, signals), plot=False)
    report = evaluate(run_dir, data=(raw, signals), split="test", plot=False, out_dir=tmp_path / "ev")
    assert report["period"]["split"] == "test"


def test_bridge_backtest_matches_the_report(tmp_path):
    cfg = tiny_config("ppo", total=256)
    run_dir = train(cfg, tmp_path / "run", progress=False)
    report = evaluate(run_dir, plot=False, n_random_seeds=1)
    from signalflow_gym.experiment import load_data, split_data

    raw, signals = load_data(cfg.data)
    test = split_data(cfg.data, raw, signals).test
    result = RLTradingModel.load(run_dir).backtest(test.raw_data, test.signals)
    assert result.summary["total_return"] == report["agent"]["total_return"]


def test_subproc_vec_env_trains_with_spawned_workers(tmp_path):
    cfg = tiny_config("ppo", "train.n_envs=2", "train.vec_env=subproc", "train.eval_freq=0", "train.checkpoint_freq=0",
                      total=256)
    run_dir = train(cfg, tmp_path / "run", progress=False)
    extra = load_run_package(run_dir).manifest["extra"]
    assert extra["num_timesteps"] >= 256
    assert extra["selected_model"] == "final"
