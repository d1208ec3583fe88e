"""The example in `SignalFlowEnv`'s docstring runs as written."""

from __future__ import annotations

import re
import textwrap

from signalflow_gym import SignalFlowEnv


def test_env_docstring_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", SignalFlowEnv.__doc__, flags=re.S)
    assert len(blocks) == 1
    namespace: dict = {}
    exec(compile(textwrap.dedent(blocks[0]), "SignalFlowEnv.__doc__", "exec"), namespace)  # noqa: S102 - the doc's own example
    assert namespace["env"].spec.id == "SignalFlow-v0"
    assert isinstance(namespace["reward"], float) and namespace["obs"].shape == namespace["env"].observation_space.shape
