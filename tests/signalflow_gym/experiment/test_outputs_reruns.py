"""Reruns into existing output folders, failed and resumed runs, evaluation of data that changed since training."""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from experiment_helpers import run_main, tiny_config
from signalflow.core.errors import ConfigError
from signalflow_gym.experiment import ExperimentConfig, evaluate, export_episodes, latest_checkpoint, load_data, train
from signalflow_gym.outputs import MARKER, verify_complete
from signalflow_gym.run_package import load_run_package


def _csv_config(csv: Path, *extra: str):
    return tiny_config("ppo", f"data.source={csv}", "data.detector=momentum", *extra, total=256)


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    """A tiny PPO run trained on a CSV file (checkpoints every 128 steps)."""
    root = tmp_path_factory.mktemp("csvrun")
    raw, _ = load_data(tiny_config("ppo").data)
    csv = root / "bars.csv"
    raw.write_csv(csv)
    cfg = _csv_config(csv, "train.checkpoint_freq=128")
    run = train(cfg, root / "run", progress=False)
    return cfg, csv, raw, run


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}."))


# ------------------------------------------------------------------ evaluate: the data must be the data trained on
def _train_on_csv(tmp_path: Path) -> tuple[Path, Path, pl.DataFrame]:
    raw, _ = load_data(tiny_config("ppo").data)
    csv = tmp_path / "bars.csv"
    raw.write_csv(csv)
    return train(_csv_config(csv), tmp_path / "run", progress=False), csv, raw


def test_evaluate_refuses_a_split_inside_the_training_period_after_the_file_shrank(tmp_path):
    run, csv, raw = _train_on_csv(tmp_path)
    ts = raw.get_column("timestamp").unique().sort()
    raw.filter(pl.col("timestamp") <= ts[int(0.6 * len(ts))]).write_csv(csv)  # the same file, cut to 60%
    with pytest.raises(ConfigError, match=r"the test split of `data.source` .*bars\.csv' overlaps the training period"):
        evaluate(run, plot=False)
    assert not (run / "evaluation").exists()
    report = evaluate(run, plot=False, allow_overlap=True)  # asked for: evaluated anyway
    assert report["period"]["split"] == "test"


def test_evaluate_refuses_a_split_whose_data_changed_since_training(tmp_path):
    run, csv, raw = _train_on_csv(tmp_path)
    last = raw.get_column("timestamp").max()
    raw.with_columns(pl.when(pl.col("timestamp") == last).then(pl.col("close") * 1.0001).otherwise(pl.col("close"))
                     .alias("close")).write_csv(csv)  # one close in the test split edited
    with pytest.raises(ConfigError, match=r"the test split of `data.source` .* is not the data the run recorded at "
                                          r"training \(fingerprint"):
        evaluate(run, plot=False)
    # export too: it wrote the policy's episodes on the changed data, its manifest naming the
    # recorded split's period as if nothing had changed
    with pytest.raises(ConfigError, match=r"the test split of `data.source` .* is not the data the run recorded at "
                                          r"training .*; restore the data, or export from the directory"):
        export_episodes(tmp_path / "ds", run_dir=run, episodes=1, split="test")
    assert not (tmp_path / "ds").exists()
    first_bar = raw.get_column("timestamp").min()
    raw.with_columns(pl.when(pl.col("timestamp") == first_bar).then(pl.col("close") * 1.0001)
                     .otherwise(pl.col("close")).alias("close")).write_csv(csv)  # now the train split edited
    with pytest.raises(ConfigError, match=r"the train split of `data.source` .* is not the data the run recorded"):
        export_episodes(tmp_path / "ds", run_dir=run, episodes=1)


def test_evaluate_refuses_the_training_split_itself(csv_run, tmp_path):
    _, _, _, run = csv_run
    with pytest.raises(ConfigError, match="the train split of `data.source` .* overlaps the training period"):
        evaluate(run, split="train", plot=False, out_dir=tmp_path / "ev")


# ------------------------------------------------------------------ evaluate / export: reruns
def test_evaluate_rerun_refused_without_overwrite_and_replaced_whole_with_it(csv_run, tmp_path):
    _, _, _, run = csv_run
    out = tmp_path / "ev"
    first = evaluate(run, plot=False, out_dir=out, n_random_seeds=1)
    verify_complete(out, kind="evaluation")
    # one random seed has no spread: the margin in its units is undefined, not +inf (which it
    # read whatever the margin's sign)
    assert str(first["margins"]["vs_random_mean_in_std"]) == "nan"
    with pytest.raises(ConfigError, match=r"already holds a complete evaluation report .*; pass --overwrite to "
                                          r"replace it"):
        evaluate(run, plot=False, out_dir=out, n_random_seeds=2)
    second = evaluate(run, plot=True, out_dir=out, n_random_seeds=2, overwrite=True)
    assert len(first["baselines"]["random"]["seeds"]) == 1 and len(second["baselines"]["random"]["seeds"]) == 2
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["baselines"]["random"]["seeds"] == [0, 1] and on_disk["files"]["bars"] == "bars.parquet"
    assert (out / on_disk["run"]["run_dir"]).resolve() == Path(run).resolve()
    assert "equity.png" in verify_complete(out)["files"]
    assert _siblings(out) == []


@pytest.mark.parametrize("seeds", [0, 2.7, "3", "x", True])
def test_evaluate_refuses_a_bad_random_seed_count_before_writing(csv_run, tmp_path, seeds):
    """2.7 used to be truncated to 2 seeds, "3" read as 3 and "x" raised a bare ValueError."""
    _, _, _, run = csv_run
    with pytest.raises(ConfigError, match=r"^`n_random_seeds` must be an integer >= 1, was .*; (pass e\.g\. n_random_seeds=5"
                                          r"|'3' is quoted text)"):
        evaluate(run, plot=False, out_dir=tmp_path / "ev", n_random_seeds=seeds)
    assert not (tmp_path / "ev").exists()


def test_export_rerun_refused_and_an_overwrite_leaves_no_stale_episode(tmp_path):
    cfg = tiny_config("ppo")
    out = tmp_path / "ds"
    export_episodes(out, policy="random", episodes=3, config=cfg)
    with pytest.raises(ConfigError, match=r"already holds a complete episode dataset .*; pass --overwrite"):
        export_episodes(out, policy="random", episodes=2, config=cfg)
    export_episodes(out, policy="random", episodes=2, config=cfg, overwrite=True)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["episodes"] == 2 == pl.read_parquet(out / "episodes.parquet").height
    assert sorted(p.name for p in (out / "episodes").iterdir()) == ["00000", "00001"]
    verify_complete(out, kind="export")


def test_export_into_a_folder_left_by_an_old_killed_export_needs_overwrite(tmp_path):
    out = tmp_path / "ds"
    (out / "episodes" / "00000").mkdir(parents=True)  # what a killed export of earlier versions left
    with pytest.raises(ConfigError, match=r"holds an incomplete episode dataset \(no COMPLETE\.json"):
        export_episodes(out, policy="random", episodes=1, config=tiny_config("ppo"))
    export_episodes(out, policy="random", episodes=1, config=tiny_config("ppo"), overwrite=True)
    assert sorted(p.name for p in (out / "episodes").iterdir()) == ["00000"]


# ------------------------------------------------------------------ train: reruns, failures, resume
def test_train_that_failed_before_its_first_checkpoint_can_be_rerun(tmp_path, monkeypatch):
    train_module = importlib.import_module("signalflow_gym.experiment.train")
    cfg = tiny_config("ppo", total=256)
    real = train_module.algorithm_class

    def failing(name):
        def build(*args, **kwargs):
            raise RuntimeError("the model could not be built")
        return build

    monkeypatch.setattr(train_module, "algorithm_class", failing)
    with pytest.raises(RuntimeError, match="could not be built"):
        train(cfg, tmp_path / "run", progress=False)
    assert latest_checkpoint(tmp_path / "run") is None and not (tmp_path / "run" / MARKER).exists()
    monkeypatch.setattr(train_module, "algorithm_class", real)
    run = train(cfg, tmp_path / "run", progress=False)  # the same command again: accepted
    assert load_run_package(run).manifest["extra"]["num_timesteps"] >= 256
    verify_complete(run, kind="train")


def test_train_rerun_into_a_complete_run_names_resume_and_overwrite(csv_run, tmp_path):
    cfg, _, _, run = csv_run
    with pytest.raises(ConfigError, match=r"is not empty; pass --resume to continue its training .*, --overwrite "
                                          r"to replace it, or choose another --out"):
        train(cfg, run, progress=False)


def test_train_overwrite_that_fails_keeps_the_previous_run(csv_run, tmp_path, monkeypatch):
    train_module = importlib.import_module("signalflow_gym.experiment.train")
    cfg, _, _, run = csv_run
    run = Path(shutil.copytree(run, tmp_path / "run"))
    before = (run / "model.zip").read_bytes()

    def failing(name):
        def build(*args, **kwargs):
            raise RuntimeError("boom")
        return build

    monkeypatch.setattr(train_module, "algorithm_class", failing)
    with pytest.raises(RuntimeError, match="boom"):
        train(cfg, run, progress=False, overwrite=True)
    assert (run / "model.zip").read_bytes() == before
    load_run_package(run)
    assert _siblings(run) == []


def test_train_interrupted_with_a_checkpoint_needs_resume_or_overwrite(csv_run, tmp_path):
    cfg, _, _, run = csv_run
    run = Path(shutil.copytree(run, tmp_path / "run"))
    (run / MARKER).unlink()  # what a kill during training leaves: checkpoints, no marker
    with pytest.raises(ConfigError, match=r"holds an interrupted run \(newest checkpoint model_\d+_steps\.zip\); pass "
                                          r"--resume to continue it, --overwrite to train it again"):
        train(cfg, run, progress=False)
    more = cfg.replace(train={"total_timesteps": 384})
    train(more, run, resume=True, progress=False)
    assert load_run_package(run).manifest["extra"]["num_timesteps"] >= 384
    verify_complete(run, kind="train")


def test_resume_checks_the_config_recorded_with_the_checkpoints_when_experiment_yaml_is_gone(csv_run, tmp_path):
    cfg, _, _, run = csv_run
    run = Path(shutil.copytree(run, tmp_path / "run"))
    (run / "experiment.yaml").unlink()
    d = cfg.to_dict()
    d["train"].update(algo="A2C", algo_kwargs={"n_steps": 8}, total_timesteps=512)
    d["env"]["broker"]["fee_rate"] = 0.05
    other = ExperimentConfig.from_dict(d)
    with pytest.raises(ConfigError, match=r"cannot resume .*: the config differs from .*checkpoints/experiment\.yaml in "
                                          r"train\.algo, train\.algo_kwargs, env\.broker"):
        train(other, run, resume=True, progress=False)
    (run / "checkpoints" / "experiment.yaml").unlink()
    with pytest.raises(ConfigError, match="the config its checkpoints were trained with is not recorded"):
        train(cfg.replace(train={"total_timesteps": 512}), run, resume=True, progress=False)


def test_resume_of_a_complete_run_keeps_it_until_the_new_one_is_complete(csv_run, tmp_path):
    cfg, _, _, run = csv_run
    run = Path(shutil.copytree(run, tmp_path / "run"))
    evaluate(run, plot=False, n_random_seeds=1)
    before = load_run_package(run).manifest["extra"]["num_timesteps"]
    train(cfg.replace(train={"total_timesteps": 512}), run, resume=True, progress=False)
    after = load_run_package(run).manifest["extra"]["num_timesteps"]
    assert after > before and latest_checkpoint(run)[1] == after
    assert not (run / "evaluation").exists()  # the report of the previous model is not carried over
    verify_complete(run, kind="train")
    assert _siblings(run) == []


def test_resume_from_a_truncated_checkpoint_is_one_line_exit_2(csv_run, tmp_path, capsys):
    cfg, _, _, run = csv_run
    run = Path(shutil.copytree(run, tmp_path / "run"))
    ckpt, _ = latest_checkpoint(run)
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    config = cfg.to_yaml(tmp_path / "experiment.yaml")
    code, _, err = run_main(["train", "--config", str(config), "--set", "train.total_timesteps=512", "--out", str(run),
                             "--resume", "--no-progress"], capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert f"cannot resume from {run / 'checkpoints' / ckpt.name}: the checkpoint cannot be read" in lines[0]
    assert "delete it" in lines[0]
