"""Ray, optional: an import guard and `init_ray` (local by default, a cluster with `address`).

Ray is an optional extra (``pip install "signalflow-gym[ray]"``). Nothing in `signalflow_gym`
imports it at module level; `require_ray()` imports it on demand and raises
`RayNotInstalledError` (a `ConfigError` and an `ImportError`) with the install command when
it is missing, so the command-line tools can print one line and exit with status 2.
"""

from __future__ import annotations

import logging
import numbers
import os
from typing import Any

from signalflow.core.errors import ConfigError

__all__ = ["RAY_INSTALL_HINT", "RayNotInstalledError", "require_ray", "require_tune", "init_ray", "check_task_fits",
           "task_cpus"]

RAY_INSTALL_HINT = ('Ray is not installed; sweeps and walk-forward need it: pip install "signalflow-gym[ray]" '
                    '(or run the walk-forward with --sequential)')


class RayNotInstalledError(ConfigError, ImportError):
    """Ray (or Ray Tune) is needed but not installed; the message says how to install it."""


def require_ray() -> Any:
    """The `ray` module, or `RayNotInstalledError` with the install command."""
    try:
        import ray
    except ImportError:
        raise RayNotInstalledError(RAY_INSTALL_HINT) from None
    return ray


def require_tune() -> Any:
    """The `ray.tune` module, or `RayNotInstalledError` with the install command."""
    require_ray()
    try:
        from ray import tune
    except ImportError:
        raise RayNotInstalledError(RAY_INSTALL_HINT.replace("Ray is", "Ray Tune is")) from None
    return tune


def init_ray(address: str | None = None, num_cpus: int | None = None, *, cpus_per_task: int = 1,
             **kwargs: Any) -> Any:
    """Connect to Ray once per process; return the `ray` module.

    - `address=None`: a local Ray instance on this machine (`num_cpus` caps the CPUs Ray
      schedules on; None = all cores). If the environment variable ``RAY_ADDRESS`` is set, Ray
      connects there instead, as `ray.init()` always does.
    - `address="auto"`: the cluster this machine belongs to (started with ``ray start --head``
      / ``ray start --address HEAD:6379``); `address="ray://HOST:10001"`: a remote cluster via
      Ray Client. `num_cpus` must be None then (the cluster decides).

    If Ray is already initialised (e.g. by a test fixture or the caller), it is reused as is.
    `cpus_per_task`: the CPUs each task will ask for (`task_cpus`). A local Ray with fewer CPUs
    than that could never start a task and would wait forever, so that is refused here, before
    any task is submitted (a cluster may add nodes later: not checked there).

    On a cluster every node needs this package installed (same version) and the output
    directory on a shared file system, since workers write the run packages themselves.
    """
    if num_cpus is not None and (isinstance(num_cpus, bool) or not isinstance(num_cpus, numbers.Integral)
                                 or num_cpus < 1):
        raise ConfigError(f"`num_cpus` (--num-cpus) must be an integer >= 1, was {num_cpus!r}; "
                          "leave it out to use every core")
    ray = require_ray()
    local = address == "local" or (address in (None, "") and not os.environ.get("RAY_ADDRESS"))
    started_here = not ray.is_initialized()
    if started_here:
        _start_ray(ray, address, num_cpus, kwargs)
    if local:
        check_task_fits(ray.cluster_resources().get("CPU", 0), cpus_per_task, started_here=started_here)
    return ray


def check_task_fits(available_cpus: float, cpus_per_task: int, *, started_here: bool = True) -> None:
    """A `ConfigError` if a task asking for `cpus_per_task` CPUs cannot run on `available_cpus`
    (`started_here`: this process started that Ray, so --num-cpus sizes it)."""
    if cpus_per_task <= available_cpus:
        return
    why = (f" (train.n_envs={cpus_per_task} with train.vec_env=subproc: one process per env)"
           if cpus_per_task > 1 else "")
    more = "give Ray more CPUs (--num-cpus)" if started_here else "start Ray with more CPUs (ray.init(num_cpus=...))"
    fix = f"lower train.n_envs, use train.vec_env=dummy, or {more}" if cpus_per_task > 1 else more
    raise ConfigError(
        f"each run asks Ray for {cpus_per_task} CPU{'s' if cpus_per_task > 1 else ''}{why} but the local Ray "
        f"instance has {available_cpus:g}, so no run could ever start; {fix}"
    )


def _start_ray(ray: Any, address: str | None, num_cpus: int | None, kwargs: dict[str, Any]) -> None:
    """`ray.init` for `init_ray` (Ray not initialised yet)."""
    options: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING,
                               "log_to_driver": True}
    options.update(kwargs)
    if address in (None, "", "local"):
        if num_cpus is not None:
            options["num_cpus"] = int(num_cpus)
        if address == "local":
            options["address"] = "local"
    else:
        if num_cpus is not None:
            raise ConfigError(
                f"`num_cpus` cannot be set when connecting to the Ray cluster at {address!r}; "
                "the cluster's nodes declare their CPUs (ray start --num-cpus N)"
            )
        options.pop("include_dashboard", None)
        options["address"] = address
    try:
        ray.init(**options)
    except ConnectionError as exc:
        raise ConfigError(
            f"cannot connect to Ray at {address!r} ({exc}); start a cluster with `ray start --head` "
            "or drop --address to use a local Ray instance"
        ) from None


def task_cpus(n_envs: int, vec_env: str) -> int:
    """CPUs one training run uses: `n_envs` with SubprocVecEnv (one process each), else 1."""
    return max(1, int(n_envs)) if vec_env == "subproc" and n_envs > 1 else 1
