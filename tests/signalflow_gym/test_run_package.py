"""Run packages: saved once, reloaded anywhere, refused when anything does not match."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest
import torch
import yaml
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from signalflow_gym import EnvConfig, SignalFlowEnv
from signalflow_gym.bridge import RLTradingModel
from signalflow_gym.run_package import RunPackageError, load_run_package, save_run_package

CONFIG = {
    "episode": {"length": 300},
    "actions": {"mapper": "per_signal"},
    "data": {"n_bars": 1500, "signal_rate": 0.08, "seed": 5},
}
START, END = 400, 900


def _busy(prev_metrics, metrics) -> float:
    return float(metrics["orders_filled"] - prev_metrics["orders_filled"])


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    config = EnvConfig.from_dict(CONFIG)
    venv = VecNormalize(DummyVecEnv([lambda: SignalFlowEnv(config=config, reward_fn=_busy)]), norm_reward=False)
    model = PPO("MlpPolicy", venv, n_steps=128, batch_size=64, seed=0, verbose=0)
    model.learn(768)
    venv.training = False
    run_dir = tmp_path_factory.mktemp("pkg") / "run"
    market = SignalFlowEnv(config=config).market
    save_run_package(run_dir, model=model, config=config, vec_normalize=venv, data_fingerprint=market.fingerprint())
    return run_dir


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_run_package_layout_and_manifest(package):
    names = sorted(p.name for p in package.iterdir())
    assert names == ["COMPLETE.json", "env_config.yaml", "manifest.json", "model.zip", "vecnormalize.pkl"]
    manifest = json.loads((package / "manifest.json").read_text())
    assert manifest["algorithm"] == "PPO"
    assert manifest["vecnormalize"] is True
    assert set(manifest["files"]) == {"model.zip", "env_config.yaml", "vecnormalize.pkl"}
    assert len(manifest["feature_names"]) == manifest["observation_space"]["shape"][0]
    assert manifest["action_space"] == {"type": "Discrete", "n": len(manifest["action_names"])}
    assert len(manifest["data_fingerprint"]) == 64
    for key in ("stable-baselines3", "torch", "gymnasium", "polars", "numpy", "python"):
        assert key in manifest["versions"]


def test_run_package_existing_directory_refused_without_overwrite(package, tmp_path):
    loaded = load_run_package(package)
    target = tmp_path / "run"
    save_run_package(target, model=loaded.policy, config=loaded.config)
    with pytest.raises(RunPackageError, match="already holds a complete run package .*; pass overwrite=True to replace it"):
        save_run_package(target, model=loaded.policy, config=loaded.config)
    save_run_package(target, model=loaded.policy, config=loaded.config, overwrite=True)
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir()), "temporary directories left behind"


def test_run_package_fresh_process_reproduces_backtest_bit_for_bit(package, tmp_path):
    here = RLTradingModel.load(package).backtest(SignalFlowEnv(config=CONFIG).market, start=START, end=END)
    assert here.trades_df.height > 0
    script = textwrap.dedent(
        f"""
        import torch
        torch.set_num_threads(1)
        from signalflow_gym import SignalFlowEnv
        from signalflow_gym.bridge import RLTradingModel
        model = RLTradingModel.load({str(package)!r})
        market = SignalFlowEnv(config=model.config).market
        result = model.backtest(market, start={START}, end={END})
        result.trades_df.write_parquet({str(tmp_path / "trades.parquet")!r})
        result.metrics_df.write_parquet({str(tmp_path / "metrics.parquet")!r})
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    assert pl.read_parquet(tmp_path / "trades.parquet").equals(here.trades_df)
    assert pl.read_parquet(tmp_path / "metrics.parquet").equals(here.metrics_df)


def test_run_package_changed_model_file_refused(package, tmp_path):
    run = _copy(package, tmp_path / "run")
    with open(run / "model.zip", "ab") as f:
        f.write(b"tampered")
    with pytest.raises(RunPackageError, match=r"model\.zip does not match its checksum in manifest\.json"):
        RLTradingModel.load(run)


def test_run_package_edited_config_refused(package, tmp_path):
    run = _copy(package, tmp_path / "run")
    text = (run / "env_config.yaml").read_text().replace("fee_rate: 0.001", "fee_rate: 0.002")
    assert "fee_rate: 0.002" in text
    (run / "env_config.yaml").write_text(text)
    with pytest.raises(RunPackageError, match=r"env_config\.yaml does not match its checksum in manifest\.json"):
        RLTradingModel.load(run)


def test_run_package_wrong_feature_count_refused(package, tmp_path):
    run = _copy(package, tmp_path / "run")
    data = yaml.safe_load((run / "env_config.yaml").read_text())
    data["features"]["top_k_signals"] = 5
    (run / "env_config.yaml").write_text(yaml.safe_dump(data))
    manifest = json.loads((run / "manifest.json").read_text())
    from signalflow_gym.run_package import sha256_file

    manifest["files"]["env_config.yaml"] = sha256_file(run / "env_config.yaml")  # a consistent but wrong package
    (run / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RunPackageError, match=r"env_config\.yaml gives \d+ features, but manifest\.json records \d+"):
        RLTradingModel.load(run)


def test_run_package_missing_file_refused(package, tmp_path):
    run = _copy(package, tmp_path / "run")
    (run / "vecnormalize.pkl").unlink()
    with pytest.raises(RunPackageError, match=r"vecnormalize\.pkl is listed in manifest\.json but missing"):
        RLTradingModel.load(run)


def test_run_package_not_a_package_refused(tmp_path):
    with pytest.raises(RunPackageError, match=r"manifest\.json is missing"):
        RLTradingModel.load(tmp_path)


def test_bridge_policy_with_other_spaces_refused(package):
    loaded = load_run_package(package)
    other = EnvConfig.from_dict({**CONFIG, "features": {"top_k_signals": 5}})
    with pytest.raises(Exception, match="use the env config the policy was trained with"):
        RLTradingModel(loaded.policy, other)


# ------------------------------------------------------------------ a package that was tampered with
class _Planted:
    """Unpickling it creates `path`: proof that a pickle was loaded."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _edit_manifest(run: Path, edit) -> None:
    manifest = json.loads((run / "manifest.json").read_text())
    edit(manifest)
    (run / "manifest.json").write_text(json.dumps(manifest))


def _plant_pickle(run: Path, tmp_path: Path) -> Path:
    import pickle

    flag = tmp_path / "UNPICKLED"
    (run / "vecnormalize.pkl").write_bytes(pickle.dumps(_Planted(flag)))
    return flag


def test_run_package_vecnormalize_flag_without_its_listed_file_refused_before_unpickling(package, tmp_path):
    run = _copy(package, tmp_path / "run")
    flag = _plant_pickle(run, tmp_path)
    _edit_manifest(run, lambda m: m["files"].pop("vecnormalize.pkl"))
    with pytest.raises(RunPackageError, match=r"says `vecnormalize: true` but does not list vecnormalize\.pkl with its "
                                              r"checksum"):
        RLTradingModel.load(run)
    assert not flag.exists(), "the pickle was loaded"


@pytest.mark.parametrize("still_listed", [True, False])
def test_run_package_vecnormalize_false_with_the_file_present_refused(package, tmp_path, still_listed):
    run = _copy(package, tmp_path / "run")

    def edit(m):
        m["vecnormalize"] = False
        if not still_listed:
            m["files"].pop("vecnormalize.pkl")

    _edit_manifest(run, edit)
    with pytest.raises(RunPackageError, match=r"says `vecnormalize: false` but the package holds vecnormalize\.pkl; "
                                              r"the policy would get unnormalised observations"):
        RLTradingModel.load(run)


def test_run_package_file_not_in_the_manifest_refused(package, tmp_path):
    run = _copy(package, tmp_path / "run")
    (run / "extra_model.zip").write_bytes((run / "model.zip").read_bytes())
    with pytest.raises(RunPackageError, match=r"extra_model\.zip is in the package but not listed in manifest\.json "
                                              r"`files`"):
        load_run_package(run)


@pytest.mark.parametrize("name", ["../../../../etc/passwd", "/etc/passwd", "sub/../../outside.txt", "C:/x.txt"])
def test_run_package_names_outside_the_package_refused_before_reading(package, tmp_path, name):
    run = _copy(package, tmp_path / "run")
    _edit_manifest(run, lambda m: m["files"].__setitem__(name, "0" * 64))
    with pytest.raises(RunPackageError, match=r"`files` name .* must be a relative file name inside the package"):
        load_run_package(run)


def test_run_package_symlink_out_of_the_package_refused(package, tmp_path):
    run = _copy(package, tmp_path / "run")
    outside = tmp_path / "outside.yaml"
    outside.write_bytes((run / "env_config.yaml").read_bytes())  # same bytes: the checksum would match
    (run / "env_config.yaml").unlink()
    (run / "env_config.yaml").symlink_to(outside)
    with pytest.raises(RunPackageError, match=r"env_config\.yaml is a symbolic link; a run package may only hold its "
                                              r"own files"):
        load_run_package(run)


def test_run_package_files_that_is_not_a_mapping_refused(package, tmp_path):
    run = _copy(package, tmp_path / "run")
    _edit_manifest(run, lambda m: m.__setitem__("files", sorted(m["files"])))
    with pytest.raises(RunPackageError, match=r"`files` must be a mapping of file name to sha256, was list"):
        load_run_package(run)


@pytest.mark.parametrize("algo", ["A2C", "DQN", "MaskablePPO", "RecurrentPPO"])
def test_run_package_algorithm_not_the_models_refused_before_unpickling(package, tmp_path, algo):
    run = _copy(package, tmp_path / "run")
    flag = _plant_pickle(run, tmp_path)
    from signalflow_gym.run_package import sha256_file

    _edit_manifest(run, lambda m: (m.__setitem__("algorithm", algo),
                                   m["files"].__setitem__("vecnormalize.pkl", sha256_file(run / "vecnormalize.pkl"))))
    with pytest.raises(RunPackageError, match=rf"records algorithm '{algo}', but .*model\.zip holds a PPO model"):
        load_run_package(run)
    assert not flag.exists(), "a pickle was loaded"


def test_run_package_spaces_not_the_configs_refused(package, tmp_path):
    run = _copy(package, tmp_path / "run")
    _edit_manifest(run, lambda m: m["action_space"].__setitem__("n", m["action_space"]["n"] + 1))
    with pytest.raises(RunPackageError, match=r"`action_space` type=Discrete, n=\d+ differs from the one .*"
                                              r"env_config\.yaml gives"):
        load_run_package(run)
