"""Bounded retries for the Alexa API's 429 and 5xx answers (docs/alexa-protocols.md §4.2)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    """At most `attempts` requests. The delay is Alexa's ``Retry-After`` when given, else
    ``base_delay * 2**n``; either is capped at ``max_delay`` so a caller is never held for long
    by one hint."""

    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 5.0

    def delay(self, retry_number: int, retry_after: float | None) -> float:
        wanted = retry_after if retry_after is not None else self.base_delay * 2**retry_number
        return max(0.0, min(wanted, self.max_delay))


def retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    value = headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
