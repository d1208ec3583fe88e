"""Run packages: one directory that holds everything needed to run a trained agent.

Layout of a run package::

    model.zip          the SB3 model (``model.save``)
    env_config.yaml    the EnvConfig the model was trained with
    vecnormalize.pkl   VecNormalize statistics (only when training used VecNormalize)
    manifest.json      algorithm, versions, feature and action names, spaces,
                       data fingerprint, and the sha256 of every file above
    COMPLETE.json      the completion marker (`signalflow_gym.outputs`)

`save_run_package` builds it in a temporary sibling directory and swaps it into place
(`signalflow_gym.outputs.building`): a crash at any instant leaves the previous package or
the new one at the path, never a mix and never nothing.

`load_run_package` refuses, naming the file and the reason, before anything is unpickled:
a manifest that is not a JSON object or whose `files` is not a mapping of names to sha256
digests; a name that is not a plain path inside the package (absolute, ``..``, a symbolic
link); a regular file at the top of the package that the manifest does not list; a
`vecnormalize` flag that disagrees with the files (true needs ``vecnormalize.pkl`` listed,
false needs it absent); a file whose sha256 differs; a model file whose algorithm or
spaces (read from the zip's JSON, not unpickled) differ from the manifest's; a config
whose features, actions or spaces differ from the manifest's. Folders inside a package
(a training run's ``checkpoints/``, ``best/``, reports) are never opened by the loader.

Security: `model.zip` and `vecnormalize.pkl` contain pickles. Loading a
package can run code chosen by whoever wrote it; load only trusted packages.
"""

from __future__ import annotations

import json
import pickle
import platform
import re
import zipfile
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
from signalflow_gym.outputs import MARKER, building, is_temporary, recover, sha256_file, write_json_atomic

__all__ = [
    "ALGORITHMS",
    "FORMAT_VERSION",
    "RunPackage",
    "RunPackageError",
    "algorithm_name",
    "load_run_package",
    "read_manifest",
    "save_run_package",
    "sha256_file",
    "verify_run_package",
    "write_package_files",
]

FORMAT_VERSION = 1
MODEL_FILE = "model.zip"
CONFIG_FILE = "env_config.yaml"
VECNORM_FILE = "vecnormalize.pkl"
MANIFEST_FILE = "manifest.json"
#: Every file name a package written by `save_run_package` holds.
PACKAGE_FILES = (MODEL_FILE, CONFIG_FILE, VECNORM_FILE, MANIFEST_FILE, MARKER)
_REQUIRED = ("format_version", "algorithm", "feature_names", "action_names", "observation_space", "action_space",
             "vecnormalize", "files")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

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


def _check_model_fits(model: Any, features: FeatureBuilder, mapper: Any) -> None:
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


def write_package_files(
    folder: str | Path,
    *,
    model: Any,
    config: EnvConfig | dict | str | Path,
    vec_normalize: Any = None,
    data_fingerprint: str | None = None,
    extra: dict[str, Any] | None = None,
    extra_files: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Write the package files (model, config, VecNormalize stats, then the manifest) into `folder`.

    No swap and no marker: `save_run_package` (and `train`, whose run folder also holds
    checkpoints) call it inside a folder that is not yet complete. Package files already
    in `folder` are replaced; `extra_files` (names of files already in `folder`, e.g. a
    run's ``experiment.yaml``) are listed in the manifest with their sha256 too.
    Returns the manifest.
    """
    folder = Path(folder)
    config = EnvConfig.coerce(config)
    algo = algorithm_name(model)
    features = FeatureBuilder(config.features, config.sizing)
    mapper = make_action_mapper(config)
    _check_model_fits(model, features, mapper)
    folder.mkdir(parents=True, exist_ok=True)
    for name in (MANIFEST_FILE, MARKER, MODEL_FILE, CONFIG_FILE, VECNORM_FILE):
        (folder / name).unlink(missing_ok=True)  # the manifest first: a half-rewritten package has none
    model.save(folder / MODEL_FILE)
    config.to_yaml(folder / CONFIG_FILE)
    files = [MODEL_FILE, CONFIG_FILE]
    if vec_normalize is not None:
        vec_normalize.save(str(folder / VECNORM_FILE))
        files.append(VECNORM_FILE)
    for name in extra_files:
        if not (folder / name).is_file():
            raise RunPackageError(f"`extra_files` name {name!r} is not a file in {folder}")
        files.append(name)
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
        "files": {name: sha256_file(folder / name) for name in files},
        "extra": extra or {},
    }
    write_json_atomic(folder / MANIFEST_FILE, manifest, sort_keys=True)
    return manifest


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
    """Write `model` (+ config, VecNormalize stats, manifest, marker) as a run package at `run_dir`.

    Built in a temporary sibling directory and swapped into place (`outputs.building`):
    killed at any instant, `run_dir` holds the previous package or the new one, and an
    interrupted swap is finished by the next write or load. An existing package (or
    training run) at `run_dir` is an error unless `overwrite=True`; a folder holding other
    files is always refused.
    """
    run_dir = Path(run_dir)
    with building(run_dir, kind="run_package", overwrite=overwrite, replaces=("train",), known=PACKAGE_FILES,
                  what="run directory", flag="overwrite=True", elsewhere="pick a new path", error=RunPackageError) as tmp:
        write_package_files(tmp, model=model, config=config, vec_normalize=vec_normalize,
                            data_fingerprint=data_fingerprint, extra=extra)
    return run_dir


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    """The package's manifest, checked for form (no file is unpickled, no checksum is computed).

    Finishes an interrupted `save_run_package` swap first (`outputs.recover`).
    """
    run_dir = Path(run_dir)
    recover(run_dir)
    path = run_dir / MANIFEST_FILE
    if not run_dir.is_dir():
        raise RunPackageError(f"run package {run_dir} does not exist or is not a directory")
    if not path.is_file():
        raise RunPackageError(f"{path} is missing; {run_dir} is not a run package (train one with `signalflow-gym train`)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunPackageError(f"{path} is not valid JSON ({exc}); the package is corrupted") from None
    if not isinstance(manifest, dict):
        raise RunPackageError(f"{path} must be a JSON object, was {type(manifest).__name__}; the package is corrupted")
    for key in _REQUIRED:
        if key not in manifest:
            raise RunPackageError(f"{path} has no `{key}`; the package is corrupted or from another tool")
    if manifest["format_version"] != FORMAT_VERSION:
        raise RunPackageError(f"{path}: `format_version` must be {FORMAT_VERSION}, was {manifest['format_version']!r}")
    files = manifest["files"]
    if not isinstance(files, dict):
        raise RunPackageError(f"{path}: `files` must be a mapping of file name to sha256, was "
                              f"{type(files).__name__}; the package is corrupted")
    for name, digest in files.items():
        _package_path(run_dir, name)
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise RunPackageError(f"{path}: `files[{name!r}]` must be a sha256 (64 hex digits), was {digest!r}; "
                                  "the package is corrupted")
    if not isinstance(manifest["vecnormalize"], bool):
        raise RunPackageError(f"{path}: `vecnormalize` must be true or false, was {manifest['vecnormalize']!r}")
    if not isinstance(manifest["algorithm"], str) or manifest["algorithm"] not in ALGORITHMS:
        raise RunPackageError(f"{path}: `algorithm` must be one of {', '.join(ALGORITHMS)}, was {manifest['algorithm']!r}")
    return manifest


def _package_path(run_dir: Path, name: Any) -> Path:
    """`run_dir / name` for a manifest file name that stays inside the package (else `RunPackageError`)."""
    where = f"{run_dir / MANIFEST_FILE}: `files` name {name!r}"
    if not isinstance(name, str) or not name or "\\" in name or "\x00" in name or name.startswith("/"):
        raise RunPackageError(f"{where} must be a relative file name inside the package; the manifest was edited")
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts) or re.match(r"^[A-Za-z]:", name):
        raise RunPackageError(f"{where} must be a relative file name inside the package (no `..`, no absolute "
                              "path); the manifest was edited")
    path = run_dir
    for part in parts:
        path = path / part
        if path.is_symlink():
            raise RunPackageError(f"{path} is a symbolic link; a run package may only hold its own files")
    return path


def _check_files_on_disk(run_dir: Path, manifest: dict[str, Any]) -> None:
    files = manifest["files"]
    for required in (MODEL_FILE, CONFIG_FILE):
        if required not in files:
            raise RunPackageError(f"{run_dir / MANIFEST_FILE} does not list {required}; the package is corrupted")
    if manifest["vecnormalize"] and VECNORM_FILE not in files:
        raise RunPackageError(f"{run_dir / MANIFEST_FILE} says `vecnormalize: true` but does not list {VECNORM_FILE} "
                              "with its checksum; the manifest was edited, write the package again")
    if not manifest["vecnormalize"] and (VECNORM_FILE in files or (run_dir / VECNORM_FILE).exists()):
        raise RunPackageError(f"{run_dir / MANIFEST_FILE} says `vecnormalize: false` but the package holds "
                              f"{VECNORM_FILE}; the policy would get unnormalised observations. The manifest was "
                              "edited, write the package again")
    for entry in sorted(run_dir.iterdir()):
        if entry.is_symlink():
            raise RunPackageError(f"{entry} is a symbolic link; a run package may only hold its own files")
        if entry.is_dir() or entry.name in (MANIFEST_FILE, MARKER) or is_temporary(entry.name):
            continue
        if entry.name not in files:
            raise RunPackageError(f"{entry} is in the package but not listed in {MANIFEST_FILE} `files`; remove it, "
                                  "or write the package again with save_run_package")


def model_zip_info(path: Path) -> dict[str, Any]:
    """What an SB3 model zip says about itself, read from its JSON `data` entry (nothing is unpickled).

    ``{"algorithm": name or None, "observation_shape": tuple or None, "action_n": int or None}``.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            data = json.loads(zf.read("data"))
    except (zipfile.BadZipFile, KeyError, OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunPackageError(f"{path} is not a readable stable-baselines3 model file ({type(exc).__name__}: {exc}); "
                              "the package is corrupted") from None
    if not isinstance(data, dict):
        raise RunPackageError(f"{path} is not a stable-baselines3 model file (its `data` is not a JSON object)")
    module = (data.get("policy_class") or {}).get("__module__") if isinstance(data.get("policy_class"), dict) else None
    algorithm = _POLICY_MODULES.get(module)
    if module == "stable_baselines3.common.policies":
        algorithm = "PPO" if "clip_range" in data else "A2C"
    obs, act = data.get("observation_space"), data.get("action_space")
    shape = tuple(obs["_shape"]) if isinstance(obs, dict) and isinstance(obs.get("_shape"), list) else None
    try:
        n = int(act["n"]) if isinstance(act, dict) and "n" in act else None
    except (TypeError, ValueError):
        n = None
    return {"algorithm": algorithm, "observation_shape": shape, "action_n": n}


#: SB3 policy modules that identify an algorithm (PPO and A2C share one; `clip_range` tells them apart).
_POLICY_MODULES = {
    "stable_baselines3.dqn.policies": "DQN",
    "sb3_contrib.common.maskable.policies": "MaskablePPO",
    "sb3_contrib.common.recurrent.policies": "RecurrentPPO",
}


def _check_model_file(run_dir: Path, name: str, manifest: dict[str, Any], features: FeatureBuilder, mapper: Any) -> None:
    info = model_zip_info(run_dir / name)
    algo = manifest["algorithm"]
    if info["algorithm"] is not None and info["algorithm"] != algo:
        raise RunPackageError(f"{run_dir / MANIFEST_FILE} records algorithm {algo!r}, but {run_dir / name} holds a "
                              f"{info['algorithm']} model; the manifest was edited, write the package again")
    shape = tuple(features.observation_space.shape)
    if info["observation_shape"] is not None and info["observation_shape"] != shape:
        raise RunPackageError(f"{run_dir / name} expects observations of shape {info['observation_shape']}, but "
                              f"{run_dir / CONFIG_FILE} gives {shape}; the config does not match the model")
    if info["action_n"] is not None and info["action_n"] != int(mapper.action_space.n):
        raise RunPackageError(f"{run_dir / name} has {info['action_n']} actions, but {run_dir / CONFIG_FILE} gives "
                              f"{int(mapper.action_space.n)}; the config does not match the model")


def verify_run_package(run_dir: str | Path, *, model_file: str | None = None) -> dict[str, Any]:
    """Check a package without unpickling anything; return the manifest (see the module docstring).

    Form of the manifest, names confined to the package, files on disk against the
    manifest, flags against files, every sha256, the config's features, actions and spaces
    against the manifest, and the model file's algorithm and spaces (`model_file`, default
    `model.zip`) against both.
    """
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    _check_files_on_disk(run_dir, manifest)
    for name, digest in manifest["files"].items():
        path = _package_path(run_dir, name)
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
    for key, space in (("observation_space", features.observation_space), ("action_space", mapper.action_space)):
        if manifest[key] != _space_dict(space):
            raise RunPackageError(f"{run_dir / MANIFEST_FILE}: `{key}` {_short(manifest[key])} differs from the one "
                                  f"{run_dir / CONFIG_FILE} gives ({_short(_space_dict(space))}); the package is corrupted")
    name = model_file or MODEL_FILE
    if name not in manifest["files"]:
        raise RunPackageError(f"{run_dir / name} is not listed in {MANIFEST_FILE}; choose one of {sorted(manifest['files'])}")
    _check_model_file(run_dir, name, manifest, features, mapper)
    return manifest


def _short(space: dict[str, Any]) -> str:
    if not isinstance(space, dict):
        return repr(space)[:80]
    return ", ".join(f"{k}={space[k]}" for k in ("type", "n", "shape", "dtype") if k in space)


def _first_difference(a: Any, b: Any) -> str:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"first difference at index {i}: {x!r} vs {y!r}"
    return f"lengths {len(a)} vs {len(b)}"


def load_run_package(run_dir: str | Path, *, model_file: str | None = None, device: str = "cpu") -> RunPackage:
    """Verify and load a run package (policy on `device`, config, normaliser, manifest).

    `model_file` loads another model file listed in the manifest (e.g. ``"best_model.zip"``)
    instead of `model.zip`. Everything `verify_run_package` checks is checked before
    anything is unpickled. Pickles inside: load only trusted packages.
    """
    run_dir = Path(run_dir)
    manifest = verify_run_package(run_dir, model_file=model_file)
    config = EnvConfig.from_yaml(run_dir / CONFIG_FILE)
    name = model_file or MODEL_FILE
    algo = manifest["algorithm"]
    module, cls_name = ALGORITHMS[algo]
    cls = getattr(import_module(module), cls_name)
    try:
        policy = cls.load(run_dir / name, device=device)
    except Exception as exc:  # a checksummed file SB3 cannot read: another SB3 version, or a wrong algorithm
        raise RunPackageError(f"{run_dir / name} could not be loaded as {algo} ({type(exc).__name__}: "
                              f"{' '.join(str(exc).split())[:300]}); check the versions in {MANIFEST_FILE}") from None
    features = FeatureBuilder(config.features, config.sizing)
    if tuple(policy.observation_space.shape) != tuple(features.observation_space.shape):
        raise RunPackageError(
            f"{run_dir / name} expects observations of shape {tuple(policy.observation_space.shape)}, but "
            f"{run_dir / CONFIG_FILE} gives {tuple(features.observation_space.shape)}; the config does not match the model"
        )
    normalizer = None
    if manifest["vecnormalize"]:
        from stable_baselines3.common.vec_env import VecNormalize

        with open(run_dir / VECNORM_FILE, "rb") as f:
            vec_normalize = pickle.load(f)  # noqa: S301 - checksummed, trusted packages only (see module doc)
        if not isinstance(vec_normalize, VecNormalize):
            raise RunPackageError(f"{run_dir / VECNORM_FILE} must hold VecNormalize statistics, was "
                                  f"{type(vec_normalize).__name__}; the package is corrupted")
        normalizer = ObservationNormalizer.from_vec_normalize(vec_normalize)
        if normalizer is not None and normalizer.mean.shape != tuple(features.observation_space.shape):
            raise RunPackageError(f"{run_dir / VECNORM_FILE} normalises observations of shape {normalizer.mean.shape}, "
                                  f"but {run_dir / CONFIG_FILE} gives {tuple(features.observation_space.shape)}")
    return RunPackage(path=run_dir, policy=policy, config=config, normalizer=normalizer, manifest=manifest)
