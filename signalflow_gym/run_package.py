"""Run packages: one directory that holds everything needed to run a trained agent.

Layout of a run package::

    model.zip          the SB3 model (``model.save``)
    env_config.yaml    the EnvConfig the model was trained with
    vecnormalize.pkl   VecNormalize statistics (only when training used VecNormalize)
    manifest.json      algorithm, versions, feature and action names, spaces,
                       data fingerprint, and the sha256 of every file above

`save_run_package` writes it atomically (a temporary directory renamed into
place); `load_run_package` checks every checksum and the spaces before it
unpickles anything it can avoid, and refuses a package that does not match.

Security: `model.zip` and `vecnormalize.pkl` contain pickles. Loading a
package can run code chosen by whoever wrote it; load only trusted packages.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import platform
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import import_module, metadata
from pathlib import Path
from typing import Any

from signalflow.core.errors import ConfigError
from signalflow_gym.actions import make_action_mapper
from signalflow_gym.config import EnvConfig
from signalflow_gym.features import FeatureBuilder
from signalflow_gym.normalizer import ObservationNormalizer

__all__ = [
    "ALGORITHMS",
    "FORMAT_VERSION",
    "RunPackage",
    "RunPackageError",
    "algorithm_name",
    "load_run_package",
    "save_run_package",
    "sha256_file",
]

FORMAT_VERSION = 1
MODEL_FILE = "model.zip"
CONFIG_FILE = "env_config.yaml"
VECNORM_FILE = "vecnormalize.pkl"
MANIFEST_FILE = "manifest.json"

#: Algorithms a package may hold: name -> (module, class).
ALGORITHMS: dict[str, tuple[str, str]] = {
    "PPO": ("stable_baselines3", "PPO"),
    "A2C": ("stable_baselines3", "A2C"),
    "DQN": ("stable_baselines3", "DQN"),
    "MaskablePPO": ("sb3_contrib", "MaskablePPO"),
    "RecurrentPPO": ("sb3_contrib", "RecurrentPPO"),
}

_VERSIONED = ("signalflow-gym", "numpy", "polars", "gymnasium", "stable-baselines3", "sb3-contrib", "torch")


class RunPackageError(ConfigError):
    """A run package is missing, corrupted, or does not match its config."""


@dataclass(frozen=True, slots=True)
class RunPackage:
    """A loaded run package: the policy, its config, its normaliser and its manifest."""

    path: Path
    policy: Any
    config: EnvConfig
    normalizer: Any
    manifest: dict[str, Any]


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def algorithm_name(model: Any) -> str:
    """The `ALGORITHMS` key of an SB3 model instance."""
    for name, (module, cls_name) in ALGORITHMS.items():
        try:
            cls = getattr(import_module(module), cls_name)
        except (ImportError, AttributeError):  # pragma: no cover - both are dependencies
            continue
        if type(model) is cls:
            return name
    raise RunPackageError(
        f"`model` must be one of {', '.join(ALGORITHMS)} (stable-baselines3 / sb3-contrib), was {type(model).__name__}"
    )


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in _VERSIONED:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _space_dict(space: Any) -> dict[str, Any]:
    if hasattr(space, "n"):
        return {"type": "Discrete", "n": int(space.n)}
    return {
        "type": type(space).__name__,
        "shape": list(space.shape),
        "dtype": str(space.dtype),
        "low": [float(x) for x in space.low.reshape(-1)],
        "high": [float(x) for x in space.high.reshape(-1)],
    }


def save_run_package(
    run_dir: str | Path,
    *,
    model: Any,
    config: EnvConfig | dict | str | Path,
    vec_normalize: Any = None,
    data_fingerprint: str | None = None,
    extra: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write `model` (+ config, VecNormalize stats, manifest) as a run package at `run_dir`.

    Written into a temporary sibling directory and renamed into place, so a
    crash never leaves a half-written package. An existing non-empty `run_dir`
    is an error unless `overwrite=True`.
    """
    run_dir = Path(run_dir)
    config = EnvConfig.coerce(config)
    algo = algorithm_name(model)
    if run_dir.exists() and any(run_dir.iterdir()) and not overwrite:
        raise RunPackageError(f"run directory {run_dir} already exists and is not empty; pass overwrite=True or pick a new path")
    features = FeatureBuilder(config.features, config.sizing)
    mapper = make_action_mapper(config)
    if tuple(model.observation_space.shape) != tuple(features.observation_space.shape):
        raise RunPackageError(
            f"the model's observation shape {tuple(model.observation_space.shape)} does not match the config's "
            f"{tuple(features.observation_space.shape)}; save the config the model was trained with"
        )
    if int(model.action_space.n) != int(mapper.action_space.n):
        raise RunPackageError(
            f"the model's action space {model.action_space} does not match the config's Discrete({mapper.action_space.n}); "
            "save the config the model was trained with"
        )
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    backup = run_dir.with_name(f".{run_dir.name}.old")
    tmp = Path(tempfile.mkdtemp(prefix=f".{run_dir.name}.", dir=run_dir.parent))
    try:
        model.save(tmp / MODEL_FILE)
        config.to_yaml(tmp / CONFIG_FILE)
        files = [MODEL_FILE, CONFIG_FILE]
        if vec_normalize is not None:
            vec_normalize.save(str(tmp / VECNORM_FILE))
            files.append(VECNORM_FILE)
        manifest = {
            "format_version": FORMAT_VERSION,
            "algorithm": algo,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": library_versions(),
            "feature_names": list(features.feature_names),
            "action_names": list(mapper.action_names),
            "observation_space": _space_dict(features.observation_space),
            "action_space": _space_dict(mapper.action_space),
            "vecnormalize": vec_normalize is not None,
            "data_fingerprint": data_fingerprint,
            "files": {name: sha256_file(tmp / name) for name in files},
            "extra": extra or {},
        }
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if run_dir.exists():
            if backup.exists():
                shutil.rmtree(backup)
            os.replace(run_dir, backup)
            os.replace(tmp, run_dir)
            shutil.rmtree(backup)
        else:
            os.replace(tmp, run_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if not run_dir.exists() and backup.exists():
            os.replace(backup, run_dir)  # put the previous package back
        raise
    return run_dir


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    """The package's manifest (no file is unpickled)."""
    run_dir = Path(run_dir)
    path = run_dir / MANIFEST_FILE
    if not run_dir.is_dir():
        raise RunPackageError(f"run package {run_dir} does not exist or is not a directory")
    if not path.is_file():
        raise RunPackageError(f"{path} is missing; {run_dir} is not a run package (train one with `signalflow-gym train`)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RunPackageError(f"{path} is not valid JSON ({exc}); the package is corrupted") from exc
    for key in ("format_version", "algorithm", "feature_names", "action_names", "files"):
        if key not in manifest:
            raise RunPackageError(f"{path} has no `{key}`; the package is corrupted or from another tool")
    if manifest["format_version"] != FORMAT_VERSION:
        raise RunPackageError(f"{path}: `format_version` must be {FORMAT_VERSION}, was {manifest['format_version']!r}")
    return manifest


def verify_run_package(run_dir: str | Path) -> dict[str, Any]:
    """Check every file's sha256 and the config against the manifest; return the manifest."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    for name, digest in manifest["files"].items():
        path = run_dir / name
        if not path.is_file():
            raise RunPackageError(f"{path} is listed in {MANIFEST_FILE} but missing")
        actual = sha256_file(path)
        if actual != digest:
            raise RunPackageError(
                f"{path} does not match its checksum in {MANIFEST_FILE} (sha256 {actual[:12]}..., expected {digest[:12]}...); "
                "the file was changed or corrupted after the package was written"
            )
    config = EnvConfig.from_yaml(run_dir / CONFIG_FILE)
    features = FeatureBuilder(config.features, config.sizing)
    mapper = make_action_mapper(config)
    if list(features.feature_names) != list(manifest["feature_names"]):
        raise RunPackageError(
            f"{run_dir / CONFIG_FILE} gives {len(features.feature_names)} features, but {MANIFEST_FILE} records "
            f"{len(manifest['feature_names'])} ({_first_difference(features.feature_names, manifest['feature_names'])}); "
            "the config does not match the trained model"
        )
    if list(mapper.action_names) != list(manifest["action_names"]):
        raise RunPackageError(
            f"{run_dir / CONFIG_FILE} gives actions {list(mapper.action_names)}, but {MANIFEST_FILE} records "
            f"{manifest['action_names']}; the config does not match the trained model"
        )
    return manifest


def _first_difference(a: Any, b: Any) -> str:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"first difference at index {i}: {x!r} vs {y!r}"
    return f"lengths {len(a)} vs {len(b)}"


def load_run_package(run_dir: str | Path, *, model_file: str | None = None, device: str = "cpu") -> RunPackage:
    """Verify and load a run package (policy on `device`, config, normaliser, manifest).

    `model_file` loads another checkpoint kept inside the package directory
    (e.g. ``"best_model.zip"``) instead of `model.zip`; it must be listed in the
    manifest too. Pickles inside: load only trusted packages.
    """
    run_dir = Path(run_dir)
    manifest = verify_run_package(run_dir)
    config = EnvConfig.from_yaml(run_dir / CONFIG_FILE)
    name = model_file or MODEL_FILE
    if name not in manifest["files"]:
        raise RunPackageError(f"{run_dir / name} is not listed in {MANIFEST_FILE}; choose one of {sorted(manifest['files'])}")
    algo = manifest["algorithm"]
    if algo not in ALGORITHMS:
        raise RunPackageError(f"{run_dir / MANIFEST_FILE}: `algorithm` must be one of {', '.join(ALGORITHMS)}, was {algo!r}")
    module, cls_name = ALGORITHMS[algo]
    cls = getattr(import_module(module), cls_name)
    policy = cls.load(run_dir / name, device=device)
    normalizer = None
    if manifest.get("vecnormalize"):
        with open(run_dir / VECNORM_FILE, "rb") as f:
            vec_normalize = pickle.load(f)  # noqa: S301 - checksummed, trusted packages only (see module doc)
        normalizer = ObservationNormalizer.from_vec_normalize(vec_normalize)
    features = FeatureBuilder(config.features, config.sizing)
    if tuple(policy.observation_space.shape) != tuple(features.observation_space.shape):
        raise RunPackageError(
            f"{run_dir / name} expects observations of shape {tuple(policy.observation_space.shape)}, but "
            f"{run_dir / CONFIG_FILE} gives {tuple(features.observation_space.shape)}; the config does not match the model"
        )
    return RunPackage(path=run_dir, policy=policy, config=config, normalizer=normalizer, manifest=manifest)
