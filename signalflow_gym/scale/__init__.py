"""Scaling out: walk-forward evaluation over folds x seeds (Ray tasks) and sweeps (Ray Tune).

Ray is optional (``pip install "signalflow-gym[ray]"``); importing this package does not
import it. `walk_forward` (with its default Ray backend) and `tune_sweep` raise
`RayNotInstalledError` (with the install command) when it is missing.

Split by job:

- planning, pure: `folds` (`plan_folds`, `fold_times`, `plan_runs`) and `trials`
  (`SweepSpace`, `load_space`, `expand_trials`);
- running: `driver.run_tasks` (Ray tasks, local or ``address=``, or sequential) and
  `ray_utils` (`init_ray`, `require_ray`); the jobs `walkforward_run` (`walk_forward`,
  `run_fold`) and `sweep_run` (`tune_sweep`);
- curves and reports: `stitching` (`stitch_equity`), `scores` (`score_summary`: aggregates
  with CIs and the probability of improvement over folds x seeds), `walkforward_report`,
  `selection` (`selection_statistics`: DSR and PBO of a sweep), `sweep_report` (imported on
  demand: they need scipy and arch);
- the command-line options: `commands` (run by `signalflow_gym.cli`).

`walkforward` and `sweep` re-export their parts under the old module paths.
"""

from signalflow_gym.scale.driver import run_tasks
from signalflow_gym.scale.folds import Fold, FoldRun, fold_times, plan_folds, plan_runs
from signalflow_gym.scale.ray_utils import RAY_INSTALL_HINT, RayNotInstalledError, init_ray, require_ray
from signalflow_gym.scale.stitching import stitch_equity
from signalflow_gym.scale.sweep_run import tune_sweep
from signalflow_gym.scale.trials import SweepSpace, expand_trials, load_space
from signalflow_gym.scale.walkforward_run import run_fold, walk_forward

__all__ = [
    "RAY_INSTALL_HINT",
    "Fold",
    "FoldRun",
    "RayNotInstalledError",
    "SweepSpace",
    "expand_trials",
    "fold_times",
    "init_ray",
    "load_space",
    "plan_folds",
    "plan_runs",
    "require_ray",
    "run_fold",
    "run_tasks",
    "stitch_equity",
    "tune_sweep",
    "walk_forward",
]
