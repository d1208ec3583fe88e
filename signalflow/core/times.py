"""Explicit times: every datetime a user gives is UTC.

A naive datetime is taken as UTC; an aware one is converted to UTC. Both come back
naive (the timestamps of validated frames are naive UTC). The machine's local time
zone is never used.
"""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["as_utc_naive"]


def as_utc_naive(value: datetime) -> datetime:
    """`value` in UTC, naive: unchanged if naive (it is UTC), converted if aware."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=None)
    return value.astimezone(timezone.utc).replace(tzinfo=None)
