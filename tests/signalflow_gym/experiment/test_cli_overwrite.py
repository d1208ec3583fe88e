"""`--overwrite` on the command line: a second `export` into a complete dataset is refused
naming the flag; with `--overwrite` it replaces the dataset whole (exit 0)."""

from __future__ import annotations

import polars as pl

from signalflow_gym.cli import main

from tests.signalflow_gym.experiment.experiment_helpers import tiny_config


def test_export_rerun_needs_overwrite_on_the_cli(tmp_path, capsys):
    config = tiny_config("ppo").to_yaml(tmp_path / "tiny.yaml")
    out = tmp_path / "episodes"
    args = ["export", "--policy", "random", "--config", str(config), "--out", str(out)]
    assert main([*args, "--episodes", "3"]) == 0
    assert main([*args, "--episodes", "1"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert pl.read_parquet(out / "episodes.parquet").height == 3  # the complete old dataset is kept
    assert main([*args, "--episodes", "1", "--overwrite"]) == 0
    assert pl.read_parquet(out / "episodes.parquet").height == 1
