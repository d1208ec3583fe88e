"""Shared error handling of the `agents/walkforward.py` and `agents/sweep.py` commands."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable


def fail(prog: str, message: str) -> int:
    """One line ``PROG: error: <message>`` on stderr; exit status 2."""
    print(f"{prog}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def run_command(prog: str, fn: Callable[[argparse.Namespace], Any], args: argparse.Namespace,
                code_of: Callable[[Any], int] = lambda _: 0) -> int:
    """Run `fn(args)`: user errors (no Ray, bad config or data, missing file) exit 2 with one line."""
    from signalflow.core.errors import ConfigError, DataValidationError

    try:
        result = fn(args)
    except (ConfigError, DataValidationError) as exc:  # includes RayNotInstalledError
        return fail(prog, str(exc))
    except FileNotFoundError as exc:
        return fail(prog, f"{exc.strerror or 'file not found'}: {exc.filename}")
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    return code_of(result)
