"""`signalflow-gym` CLI: commands work; bad config or data exits 2 with one line on stderr."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from experiment_helpers import CONFIGS, REPO, run_main, tiny_overrides

SETS = [a for o in tiny_overrides(256) for a in ("--set", o)] + ["--set", "train.algo_kwargs.n_steps=128",
                                                                  "--set", "train.algo_kwargs.batch_size=64"]


def _one_line_error(code: int, err: str, fragment: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("signalflow-gym: error: ")
    assert fragment in lines[0]


def test_unknown_key_exits_2_with_one_line_subprocess():
    proc = subprocess.run(
        [sys.executable, "-m", "signalflow_gym.cli", "train", "--config", str(CONFIGS / "ppo.yaml"),
         "--set", "train.n_env=2", "--out", "unused"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    _one_line_error(proc.returncode, proc.stderr, "unknown key `train.n_env` in section `train`")
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("argv_tail", "fragment"),
    [
        (["--set", "train.total_timesteps=lots"], "`train.total_timesteps` must be an integer >= 1, was 'lots'"),
        (["--set", "data.source=/no/such/bars.parquet"], "`data.source`: `source` must be an existing file"),
        (["--set", "env.episode.length=5000"], "the train split has 1800 bars, fewer than `env.episode.length`"),
        (["--set", "data.split_at=[2024-01-03, 2024-01-02]"], "`data.split_at` must be increasing"),
    ],
)
def test_bad_config_or_data_exits_2_with_one_line(argv_tail, fragment, tmp_path, capsys):
    code, _, err = run_main(["train", "--config", str(CONFIGS / "ppo.yaml"), *SETS, *argv_tail,
                             "--out", str(tmp_path / "run"), "--no-progress"], capsys)
    _one_line_error(code, err, fragment)


def test_missing_config_file_exits_2(tmp_path, capsys):
    code, _, err = run_main(["train", "--config", str(tmp_path / "missing.yaml")], capsys)
    _one_line_error(code, err, "does not exist")


def test_overlapping_splits_in_file_exit_2(tmp_path, capsys):
    data = yaml.safe_load((CONFIGS / "ppo.yaml").read_text())
    data["data"]["split_at"] = ["2024-01-05T00:00:00", "2024-01-05T00:00:00"]
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(data))
    code, _, err = run_main(["train", "--config", str(path), "--out", str(tmp_path / "r")], capsys)
    _one_line_error(code, err, "would overlap the training split")


def test_cli_train_evaluate_export_and_overlap_check(tmp_path, capsys):
    run = tmp_path / "run"
    code, out, err = run_main(["train", "--config", str(CONFIGS / "ppo.yaml"), *SETS, "--out", str(run), "--no-progress"], capsys)
    assert code == 0, err
    assert f"run package: {run}" in out
    code, out, err = run_main(["evaluate", "--run", str(run), "--no-plot", "--random-seeds", "2"], capsys)
    assert code == 0, err
    assert "| agent |" in out and (run / "evaluation" / "test" / "report.md").is_file()
    # evaluating on a file that contains the training period is refused
    from signalflow_gym.experiment import ExperimentConfig, load_data

    raw, signals = load_data(ExperimentConfig.from_yaml(run / "experiment.yaml").data)
    raw.write_parquet(tmp_path / "bars.parquet")
    signals.write_parquet(tmp_path / "signals.parquet")
    code, _, err = run_main(["evaluate", "--run", str(run), "--data", str(tmp_path / "bars.parquet"),
                             "--signals", str(tmp_path / "signals.parquet")], capsys)
    _one_line_error(code, err, "overlaps the training period")
    code, out, err = run_main(["evaluate", "--run", str(run), "--data", str(tmp_path / "bars.parquet"),
                               "--signals", str(tmp_path / "signals.parquet"), "--split", "test", "--no-plot",
                               "--out", str(tmp_path / "ev")], capsys)
    assert code == 0, err
    code, out, err = run_main(["export", "--run", str(run), "--episodes", "1", "--out", str(tmp_path / "ds")], capsys)
    assert code == 0, err
    assert (tmp_path / "ds" / "transitions.parquet").is_file()
    code, out, err = run_main(["export", "--policy", "threshold", "--episodes", "1", "--config", str(CONFIGS / "ppo.yaml"),
                               *SETS, "--out", str(tmp_path / "thr")], capsys)
    assert code == 0, err


def test_evaluate_missing_run_exits_2(tmp_path, capsys):
    code, _, err = run_main(["evaluate", "--run", str(tmp_path / "nope")], capsys)
    _one_line_error(code, err, "does not exist")


@pytest.mark.parametrize("script", ["train", "evaluate", "export"])
def test_agent_scripts_have_help(script):
    proc = subprocess.run([sys.executable, str(REPO / "agents" / f"{script}.py"), "--help"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout


def test_evaluate_reads_a_csv_written_in_another_timestamp_format_with_timestamp_format(tmp_path, capsys):
    import polars as pl

    from signalflow_gym.experiment import ExperimentConfig, load_data

    run = tmp_path / "run"  # trained on the synthetic market, whose config has no timestamp_format
    code, _, err = run_main(["train", "--config", str(CONFIGS / "ppo.yaml"), *SETS, "--out", str(run), "--no-progress"],
                            capsys)
    assert code == 0, err
    raw, signals = load_data(ExperimentConfig.from_yaml(run / "experiment.yaml").data)
    fmt = "%m/%d/%Y %H:%M"
    raw.with_columns(pl.col("timestamp").dt.strftime(fmt)).write_csv(tmp_path / "bars_us.csv")
    signals.write_parquet(tmp_path / "signals.parquet")
    base = ["evaluate", "--run", str(run), "--data", str(tmp_path / "bars_us.csv"), "--signals",
            str(tmp_path / "signals.parquet"), "--split", "test", "--no-plot", "--random-seeds", "1"]
    code, _, err = run_main([*base, "--out", str(tmp_path / "iso")], capsys)
    _one_line_error(code, err, "timestamp")  # ISO 8601 expected: the US dates are refused
    code, out, err = run_main([*base, "--timestamp-format", fmt, "--out", str(tmp_path / "us")], capsys)
    assert code == 0, err
    assert (tmp_path / "us" / "report.md").is_file()
    code, _, err = run_main(["evaluate", "--run", str(run), "--data", str(tmp_path / "signals.parquet"),
                             "--timestamp-format", fmt], capsys)
    _one_line_error(code, err, "--timestamp-format says how a CSV writes its timestamps")
