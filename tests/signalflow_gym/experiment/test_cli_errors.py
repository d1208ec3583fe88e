"""The CLI's promise: bad input exits 2 with one line ``signalflow-gym: error: ...``, no traceback.

Covers what used to end in a raw traceback (exit 1) or a message without the fix: values SB3
or torch refuse while building the model (named by config key), numbers YAML reads as text,
quoted ISO `split_at`, non-UTF-8 / empty / malformed config files and an `--out` that is a file.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from experiment_helpers import CONFIGS, REPO, run_main

PPO = str(CONFIGS / "ppo.yaml")
SMALL = ["--set", "data.synthetic.n_bars=3000", "--set", "env.episode.length=200", "--set", "train.total_timesteps=64",
         "--no-progress"]


def _one_line(code: int, err: str, *fragments: str) -> str:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("signalflow-gym: error: ") and "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def _train(tmp_path, capsys, *sets: str, config: str = PPO):
    argv = ["train", "--config", config, *SMALL]
    for s in sets:
        argv += ["--set", s]
    return run_main([*argv, "--out", str(tmp_path / "run")], capsys)


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("train.algo_kwargs.learning_rate=-1", ["`train.algo_kwargs.learning_rate` must be a finite number > 0, was -1"]),
        ("train.algo_kwargs.batch_size=0", ["`train.algo_kwargs.batch_size` must be an integer >= 1, was 0"]),
        ("train.algo_kwargs.batch_size=1", ["`train.algo_kwargs.batch_size` must be a value PPO accepts, was 1",
                                            "AssertionError: `batch_size` must be greater than 1"]),
        ("train.algo_kwargs.n_steps=1", ["`train.algo_kwargs.n_steps` x `train.n_envs` must be a value PPO accepts"]),
        ("train.algo_kwargs.policy_kwargs={foo: 1}", ["`train.algo_kwargs.policy_kwargs` must be a value PPO accepts, "
                                                      "was {'foo': 1}: TypeError"]),
        ("train.algo_kwargs.policy_kwargs={net_arch: [0]}", ["`train.algo_kwargs.policy_kwargs.net_arch[0]` must be a "
                                                              "layer width, an integer >= 1, was 0"]),
        ("train.algo_kwargs.policy_kwargs={net_arch: {pi: [64, -1], vf: [8]}}",
         ["`train.algo_kwargs.policy_kwargs.net_arch.pi[1]` must be a layer width, an integer >= 1, was -1"]),
        ("train.algo_kwargs.policy_kwargs={net_arch: 64}", ["`train.algo_kwargs.policy_kwargs.net_arch` must be a list "
                                                            "of layer widths, was 64"]),
        ("train.algo_kwargs.gamma=2", ["`train.algo_kwargs.gamma` must be a finite number in (0, 1], was 2"]),
        ("train.algo_kwargs.target_kl=-1", ["`train.algo_kwargs.target_kl` must be a finite number > 0, was -1"]),
        ("train.algo_kwargs.clip_range_vf=0", ["`train.algo_kwargs.clip_range_vf` must be a finite number > 0, was 0"]),
        ("train.device=tpu", ["`train.device` must be a torch device", "was 'tpu'"]),
        ("train.policy=FooPolicy", ["`train.policy` must be a policy of PPO (CnnPolicy, MlpPolicy, MultiInputPolicy)"]),
        ("train.policy=CnnPolicy", ["`train.policy` must be a value PPO accepts, was 'CnnPolicy': AssertionError"]),
    ],
)
def test_values_sb3_or_torch_refuse_are_one_line_naming_the_key(override, fragments, tmp_path, capsys):
    code, _, err = _train(tmp_path, capsys, override)
    _one_line(code, err, *fragments)
    assert not (tmp_path / "run").exists()  # refused before any output folder is made



def test_a_bad_value_is_traced_to_the_override_that_set_it_or_else_to_the_file(tmp_path, capsys):
    """It was always prefixed with the config file's path, also when `--set` gave the value."""
    code, _, err = _train(tmp_path, capsys, "train.seed=3", "train.algo_kwargs.gamma=2")
    line = _one_line(code, err, "`train.algo_kwargs.gamma` must be a finite number in (0, 1], was 2")
    assert line.startswith(f"signalflow-gym: error: override `train.algo_kwargs.gamma=2` (on {PPO}): "), line
    code, _, err = _train(tmp_path, capsys, "train.algo_kwargs={gamma: 2}")  # the section, set whole
    assert "error: override `train.algo_kwargs={gamma: 2}` (on " in _one_line(code, err), err
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"train": {"algo": "PPO", "algo_kwargs": {"gamma": 2}}}))
    code, _, err = _train(tmp_path, capsys, "train.seed=3", config=str(bad))
    assert _one_line(code, err).startswith(f"signalflow-gym: error: {bad}: `train.algo_kwargs.gamma` must be"), err


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("env.broker.initial_capital=1e6", "`env.broker.initial_capital` must be a finite number > 0, was '1e6'; "
                                           "YAML reads '1e6' as text, not a number (it needs a dot and a signed "
                                           "exponent); write 1.0e+6 or 1000000"),
        ("train.total_timesteps=1e6", "`train.total_timesteps` must be an integer >= 1, was '1e6'; YAML reads '1e6' "
                                      "as text, not a number (it needs a dot and a signed exponent); write 1000000"),
        ("train.algo_kwargs.learning_rate=3e-4", "`train.algo_kwargs.learning_rate` must be a number, not text, "
                                                 "was '3e-4'; YAML reads '3e-4' as text"),
    ],
)
def test_numbers_yaml_reads_as_text_get_the_spelling_that_works(override, fragment, tmp_path, capsys):
    code, _, err = _train(tmp_path, capsys, override)
    _one_line(code, err, fragment)


def test_number_as_text_in_a_config_file_gets_the_hint(tmp_path, capsys):
    data = yaml.safe_load((CONFIGS / "ppo.yaml").read_text())
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(data).replace("initial_capital: 10000.0", "initial_capital: 1e6"))
    code, _, err = _train(tmp_path, capsys, config=str(path))
    _one_line(code, err, f"{path}: `env.broker.initial_capital`", "write 1.0e+6 or 1000000")


def test_the_hint_spelling_is_read_as_a_number(tmp_path):
    from signalflow_gym.experiment import ExperimentConfig

    cfg = ExperimentConfig.from_dict({}, ["env.broker.initial_capital=1.0e+6", "train.total_timesteps=1000000"])
    assert (cfg.env.broker.initial_capital, cfg.train.total_timesteps) == (1_000_000.0, 1_000_000)


def test_quoted_iso_split_at_with_an_offset_is_compared_with_the_bars(tmp_path, capsys):
    """It used to end in a polars SchemaError (aware vs naive datetimes); now the split is computed."""
    code, _, err = _train(tmp_path, capsys, 'data.split_at=["2024-01-01T10:00:00+00:00", "2024-01-01T12:00:00Z"]',
                          "env.episode.length=300")
    _one_line(code, err, "the validation split has 120 bars, fewer than `env.episode.length`")
    code, _, err = _train(tmp_path, capsys, 'data.split_at=["2024-01-01T12:00:00+00:00", "2024-01-01T13:00:00+02:00"]')
    _one_line(code, err, "`data.split_at` must be increasing [train_end, validation_end], was [2024-01-01 12:00:00, "
                         "2024-01-01 11:00:00]")


def test_non_utf8_config_file_is_one_line_naming_it(tmp_path, capsys):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00bin")
    code, _, err = run_main(["train", "--config", str(path), "--out", str(tmp_path / "r")], capsys)
    _one_line(code, err, f"config file `{path}` is not UTF-8 text", "save it as UTF-8")


def test_empty_config_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n")
    code, _, err = run_main(["train", "--config", str(path), "--out", str(tmp_path / "r")], capsys)
    _one_line(code, err, f"config file `{path}` is empty")


@pytest.mark.parametrize(
    "argv",
    [
        ["evaluate", "--run", "runs/whatever"],
        ["export", "--policy", "random", "--episodes", "2"],
        ["demo", "--quick"],
        ["train", "--config", PPO],
    ],
    ids=["evaluate", "export", "demo", "train"],
)
def test_out_pointing_at_a_file_is_one_line(argv, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    code, _, err = run_main([*argv, "--out", str(afile)], capsys)
    _one_line(code, err, f"--out {afile} is a file; an output folder is needed")
    code, _, err = run_main([*argv, "--out", str(afile / "sub")], capsys)
    _one_line(code, err, f"is inside {afile}, which is a file")
    assert afile.read_text() == "not a folder"


def test_sb3_refusal_in_a_subprocess_has_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "signalflow_gym.cli", "train", "--config", PPO, *SMALL,
         "--set", "train.algo_kwargs.batch_size=1", "--out", str(tmp_path / "run")],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )
    _one_line(proc.returncode, proc.stderr, "`train.algo_kwargs.batch_size`")
