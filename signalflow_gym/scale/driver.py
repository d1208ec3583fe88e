"""The task driver: run independent tasks as Ray tasks (local Ray or a cluster) or one after another.

`run_tasks(function, calls, shared=...)` calls ``function(shared, *call)`` once per call and
returns the results in the order of `calls`:

- ``backend="ray"``: `init_ray(address, num_cpus, cpus_per_task=...)` (a Ray that is already initialised is
  reused), `shared` is put once in the object store (workers read it without copying it per
  task), one task per call with `cpus_per_task` CPUs and no retries; results are collected as
  tasks finish (`on_result` is called then, e.g. to log progress).
- ``backend="sequential"``: the calls run in this process, in order (no Ray needed; for
  debugging and for machines without Ray).

A task that raises, or whose worker dies, gives ``on_error(call, exception)`` as its result:
the other tasks still run. `function` must be a module-level function (Ray pickles it).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from signalflow.core.errors import ConfigError

__all__ = ["BACKENDS", "run_tasks", "error_text"]

BACKENDS = ("ray", "sequential")


def error_text(exc: BaseException, limit: int = 500) -> str:
    """``"TypeName: message"`` on one line, at most `limit` characters (for a report's error column)."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:limit]


def run_tasks(
    function: Callable[..., Any],
    calls: Sequence[tuple[Any, ...]],
    *,
    shared: Any = None,
    backend: str = "ray",
    address: str | None = None,
    num_cpus: int | None = None,
    cpus_per_task: int = 1,
    on_error: Callable[[tuple[Any, ...], BaseException], Any],
    on_result: Callable[[tuple[Any, ...], Any], None] | None = None,
) -> list[Any]:
    """``[function(shared, *call) for call in calls]`` as Ray tasks or in order (see the module docstring)."""
    if backend not in BACKENDS:
        raise ConfigError(f"`backend` must be one of {list(BACKENDS)}, was {backend!r}; use ray or sequential")
    notify = on_result or (lambda call, result: None)
    results: list[Any] = [None] * len(calls)
    if backend == "sequential":
        for i, call in enumerate(calls):
            try:
                results[i] = function(shared, *call)
            except Exception as exc:  # reported as that task's result; the others go on
                results[i] = on_error(call, exc)
            notify(call, results[i])
        return results

    from signalflow_gym.scale.ray_utils import init_ray

    ray = init_ray(address, num_cpus, cpus_per_task=cpus_per_task)
    remote = ray.remote(num_cpus=cpus_per_task, max_retries=0)(function)
    shared_ref = ray.put(shared)
    pending = {remote.remote(shared_ref, *call): i for i, call in enumerate(calls)}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        i = pending.pop(done[0])
        try:
            results[i] = ray.get(done[0])
        except Exception as exc:  # the task raised, its worker died, or it could not run at all
            results[i] = on_error(calls[i], exc)
        notify(calls[i], results[i])
    return results
