"""Fixtures of the scale tests: a local Ray limited to 2 CPUs (helpers in `scaletest_helpers.py`)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray instance with 2 CPUs for the module's tests (shut down afterwards)."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.tune")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
