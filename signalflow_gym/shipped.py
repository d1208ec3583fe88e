"""The configs shipped inside the package (`signalflow_gym/configs/`), resolvable by name.

`--config ppo` and `--config configs/ppo.yaml` both work: a value that names an existing file
is that file; otherwise a bare name (``ppo``, ``ppo.yaml``) is the shipped config of that
name. The checkout's `configs/` is a link to the same folder, so there is one copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from signalflow.core.errors import ConfigError

__all__ = ["SHIPPED_CONFIGS", "shipped_configs", "resolve_config", "describe", "copy_config"]

#: The folder of the shipped experiment, env and sweep configs (package data).
SHIPPED_CONFIGS = Path(__file__).resolve().parent / "configs"


def shipped_configs() -> dict[str, Path]:
    """Shipped config name -> file, in name order (`ppo`, `demo`, `env_simple`, `sweep`, ...)."""
    return {path.stem: path for path in sorted(SHIPPED_CONFIGS.glob("*.yaml"))}


def resolve_config(value: str | Path, *, what: str = "config file") -> Path:
    """The file `value` names: an existing path as given, else the shipped config of that name.

    Raises `ConfigError` naming the value, the shipped names and the fix."""
    path = Path(value)
    if path.is_file():
        return path
    name = path.name[:-5] if path.name.endswith(".yaml") else path.name
    shipped = shipped_configs()
    if path.parent in (Path("."), Path("configs")) and name in shipped:
        return shipped[name]
    if path.exists():
        raise ConfigError(f"{what} `{value}` is not a file; pass a YAML file or a shipped config name")
    raise ConfigError(
        f"{what} `{value}` does not exist; pass an existing YAML file or a shipped config name "
        f"({', '.join(shipped)}); `signalflow-gym configs` lists them"
    )


def describe(path: Path) -> str:
    """The first comment line of a config file (its one-line description), or ""."""
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("#"):
            return line.lstrip("#").strip()
        if line:
            break
    return ""


def copy_config(name: str, destination: str | Path) -> Path:
    """Copy the shipped config `name` to `destination` (a file, or a folder to put it in) to edit it;
    an existing file is never overwritten."""
    source = resolve_config(name)
    target = Path(destination)
    if target.is_dir():
        target = target / source.name
    if target.exists():
        raise ConfigError(f"`{target}` exists already; pick another destination (nothing was copied)")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target
