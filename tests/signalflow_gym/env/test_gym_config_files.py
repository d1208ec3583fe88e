"""Env config files that are not JSON / not UTF-8 are a `ConfigError` naming the file, not a raw decode error."""

from __future__ import annotations

import re

import pytest

from signalflow.core.errors import ConfigError
from signalflow_gym import EnvConfig, SignalFlowEnv


def test_malformed_json_config_names_the_file_line_and_column(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"sizing": {"max_positions": 3},\n  not json}')
    with pytest.raises(ConfigError, match=re.escape(f"env config file `{path}` is not valid JSON (") + r".*line 2, column 3"):
        SignalFlowEnv(config=str(path))


def test_from_json_text_that_is_not_json_is_a_config_error():
    with pytest.raises(ConfigError, match=r"^the env config is not valid JSON \(Expecting value at line 1, column 1\)"):
        EnvConfig.from_json("nope")


@pytest.mark.parametrize("name", ["binary.json", "binary.yaml"])
def test_non_utf8_env_config_file_names_it(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\xff\xfe\x00bin")
    with pytest.raises(ConfigError, match=re.escape(f"env config file `{path}` is not UTF-8 text")):
        EnvConfig.coerce(str(path))


def test_a_sweep_space_file_that_is_not_utf8_is_named(tmp_path):
    from signalflow_gym.scale.sweep import load_space

    path = tmp_path / "space.yaml"
    path.write_bytes(b"train.algo_kwargs.learning_rate: [0.001]\n\xff\xfe\n")
    with pytest.raises(ConfigError, match=re.escape(f"sweep space file `{path}` is not UTF-8 text")):
        load_space(path)
