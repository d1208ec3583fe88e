"""Shipped configs are package data, resolvable by name from any folder; the checkout's
`configs/` is the same folder (no second copy); the wheel carries them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from signalflow.core.errors import ConfigError
from signalflow_gym import EnvConfig
from signalflow_gym.cli import main
from signalflow_gym.experiment import ExperimentConfig
from signalflow_gym.shipped import SHIPPED_CONFIGS, resolve_config, shipped_configs

REPO = Path(__file__).resolve().parents[3]


def test_the_checkout_configs_folder_is_the_shipped_one():
    assert (REPO / "configs").resolve() == SHIPPED_CONFIGS
    assert {"ppo", "a2c", "dqn", "maskable_ppo", "recurrent_ppo", "demo", "env_simple", "env_per_signal", "sweep"} <= set(
        shipped_configs()
    )


def test_configs_resolve_by_name_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configs/ here
    for value in ("ppo", "ppo.yaml", "configs/ppo.yaml"):
        assert resolve_config(value) == SHIPPED_CONFIGS / "ppo.yaml"
    assert ExperimentConfig.from_yaml("ppo").train.algo == "PPO"
    assert EnvConfig.from_yaml("env_per_signal").actions.mapper == "per_signal"
    mine = tmp_path / "ppo.yaml"
    mine.write_text("name: mine\ntrain: {algo: A2C}\n")
    assert ExperimentConfig.from_yaml("ppo.yaml").name == "mine"  # an existing file wins


def test_an_unknown_config_name_lists_the_shipped_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"config file `ppoo` does not exist; .*shipped config name \(a2c, demo, "):
        ExperimentConfig.from_yaml("ppoo")


def test_configs_command_lists_and_copies(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["configs"]) == 0
    listed = capsys.readouterr().out
    for name in shipped_configs():
        assert f"\n{name} " in f"\n{listed}"
    assert main(["configs", "--copy", "ppo"]) == 0
    assert (tmp_path / "ppo.yaml").read_text() == (SHIPPED_CONFIGS / "ppo.yaml").read_text()
    assert main(["configs", "--copy", "ppo"]) == 2  # never overwrites
    assert "exists already" in capsys.readouterr().err


def test_the_wheel_carries_the_configs(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(REPO)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("signalflow_gym-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in shipped_configs():
        assert f"signalflow_gym/configs/{name}.yaml" in names
    assert "signalflow_gym/configs/zoo/ppo.yml" in names
