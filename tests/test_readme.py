"""The README's Python examples run as written (in order, in one namespace, in a scratch directory)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

README = Path(__file__).resolve().parents[1] / "README.md"
#: Blocks that need artefacts of a CLI run (they carry this marker in their first line).
_SKIP_MARKER = "# needs: "


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_has_python_examples():
    assert len(_blocks()) >= 3


def test_readme_python_examples_run_as_written(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme"}
    ran = 0
    for i, block in enumerate(_blocks()):
        if block.startswith(_SKIP_MARKER):
            continue
        if "runs/ppo1/episodes" in block and not (tmp_path / "runs/ppo1/episodes").exists():
            # The behaviour-cloning example reads an exported dataset: export a small one there.
            from signalflow_gym.experiment import export_episodes

            export_episodes("runs/ppo1/episodes", policy="random", episodes=2, seed=0)
        try:
            exec(compile(block, f"README.md[python block {i}]", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"README python block {i} failed: {type(exc).__name__}: {exc}\n{block}")
        ran += 1
    assert ran >= 3
