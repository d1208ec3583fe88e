"""Walk-forward evaluation, by its old module path: the public names of its parts.

The job is split by what each part does: planning in `signalflow_gym.scale.folds`
(`plan_folds`, `fold_times`, `plan_runs`), running in `walkforward_run` (`walk_forward`,
`run_fold`; the output layout is described there) on `driver.run_tasks`, curves in
`stitching` (`stitch_equity`), the report in `walkforward_report` (`folds_frame`, ...) and
`scores` (`score_summary`), and the command's options in `commands`. Importing from here keeps
working; the report modules (scipy, arch) are imported only when a report is written.
"""

from signalflow_gym.scale.commands import add_walkforward_args, run_walkforward
from signalflow_gym.scale.folds import SCHEMES, Fold, FoldRun, fold_record, fold_times, plan_folds, plan_runs
from signalflow_gym.scale.stitching import STITCHED, stitch_equity
from signalflow_gym.scale.walkforward_run import run_fold, walk_forward

__all__ = [
    "SCHEMES",
    "STITCHED",
    "Fold",
    "FoldRun",
    "add_walkforward_args",
    "fold_record",
    "fold_times",
    "plan_folds",
    "plan_runs",
    "run_fold",
    "run_walkforward",
    "stitch_equity",
    "walk_forward",
]
