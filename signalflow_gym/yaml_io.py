"""YAML at the edges: read with `yaml.safe_load` and clear errors, write atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from signalflow.core.errors import ConfigError
from signalflow_gym.outputs import write_text_atomic

__all__ = ["read_yaml", "write_yaml_atomic"]


def read_yaml(path: str | Path, *, what: str, example: str) -> Any:
    """The parsed content of `path` (`what` names it in errors, e.g. "sweep space file")."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} `{path}` does not exist; pass an existing YAML file, e.g. {example}")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{what} `{path}` is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 YAML, "
            f"e.g. {example}"
        ) from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{what} `{path}` is not valid YAML ({first}); fix the syntax") from None


def write_yaml_atomic(data: Any, path: str | Path) -> Path:
    """Write `data` as YAML to `path` (parents created) via a temporary file and a rename."""
    return write_text_atomic(path, yaml.safe_dump(data, sort_keys=False))
