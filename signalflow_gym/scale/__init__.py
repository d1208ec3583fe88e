"""Scaling out on Ray: walk-forward evaluation (Ray tasks) and sweeps (Ray Tune).

Ray is optional (``pip install "signalflow-gym[ray]"``); importing this package does not
import it. `walk_forward` and `tune_sweep` raise `RayNotInstalledError` (with the install
command) when it is missing.

- `plan_folds(n_bars, K, scheme=, gap=)`: pure fold planning (bar-index boundaries)
- `walk_forward(config, out_dir, folds=K, ...)`: one Ray task per fold, a combined report
- `tune_sweep(config, space, out_dir, trials=N, asha=...)`: Ray Tune trials, ranked; best package kept
- `init_ray(address=None, num_cpus=None)`: local Ray by default, "auto" / "ray://..." for a cluster
"""

from signalflow_gym.scale.ray_utils import RAY_INSTALL_HINT, RayNotInstalledError, init_ray, require_ray
from signalflow_gym.scale.sweep import SweepSpace, expand_trials, load_space, tune_sweep
from signalflow_gym.scale.walkforward import Fold, fold_times, plan_folds, run_fold, stitch_equity, walk_forward

__all__ = [
    "RAY_INSTALL_HINT",
    "Fold",
    "RayNotInstalledError",
    "SweepSpace",
    "expand_trials",
    "fold_times",
    "init_ray",
    "load_space",
    "plan_folds",
    "require_ray",
    "run_fold",
    "stitch_equity",
    "tune_sweep",
    "walk_forward",
]
