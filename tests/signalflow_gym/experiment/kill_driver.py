"""The kill test's subprocess: run one output writer and SIGKILL itself at a chosen rename.

    python kill_driver.py OP OUT AT SPEC_JSON

OP: "package" (`save_run_package`), "evaluate" or "export", each replacing the complete
result already at OUT (``overwrite=True``) with a different one. AT: "nth:K" (killed just
before the K-th `os.replace` of the process: in the middle of building the new result),
"between" (just before the new folder is renamed to OUT, the previous one being already
renamed aside) or "after" (just after that rename, before the previous one is deleted).
SPEC_JSON: paths and configs the writer needs.
"""

from __future__ import annotations

import json
import os
import signal
import sys


def main() -> None:
    op, out, at, spec_path = sys.argv[1:5]
    with open(spec_path) as f:
        spec = json.load(f)
    final = os.path.abspath(out)
    real_replace = os.replace
    calls = [0]

    def replace(src, dst, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls[0] += 1
        swap_in = os.path.abspath(os.fspath(dst)) == final and ".new-" in os.path.basename(os.fspath(src))
        if (at == "between" and swap_in) or (at.startswith("nth:") and calls[0] == int(at[4:])):
            os.kill(os.getpid(), signal.SIGKILL)
        real_replace(src, dst, *args, **kwargs)
        if at == "after" and swap_in:
            os.kill(os.getpid(), signal.SIGKILL)

    os.replace = replace
    if op == "package":
        from stable_baselines3 import PPO

        from signalflow_gym.run_package import save_run_package

        save_run_package(out, model=PPO.load(spec["model"], device="cpu"), config=spec["env_config"],
                         extra={"version": 2}, overwrite=True)
    elif op == "evaluate":
        from signalflow_gym.experiment import evaluate

        evaluate(spec["run"], out_dir=out, n_random_seeds=2, plot=False, overwrite=True)
    elif op == "export":
        from signalflow_gym.experiment import export_episodes

        export_episodes(out, policy="random", episodes=3, config=spec["experiment"], overwrite=True)
    else:
        raise SystemExit(f"unknown op {op!r}")
    print("finished without being killed", flush=True)


if __name__ == "__main__":
    main()
