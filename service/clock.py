"""The one clock: every "now" in the service comes from here (timezone-aware UTC)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def mongo_time(moment: datetime) -> datetime:
    """`moment` at the precision Mongo stores (milliseconds), to compare with a time read back."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
