"""What the linking domain needs from the running service, as plain values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp

from service.crypto import KeyRing
from service.db import Database


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries for Alexa's 429 and 5xx answers (alexa-protocols.md §4.2: ~3 tries).

    The delay is Alexa's ``Retry-After`` when given, else ``base_delay * 2**n``; either is
    capped at ``max_delay`` so a caller is never held for long by one hint."""

    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 5.0

    def delay(self, retry_number: int, retry_after: float | None) -> float:
        wanted = retry_after if retry_after is not None else self.base_delay * 2**retry_number
        return max(0.0, min(wanted, self.max_delay))


@dataclass(frozen=True)
class LinkingDeps:
    db: Database
    http: aiohttp.ClientSession
    keyring: KeyRing
    lwa_timeout: float
    alexa_timeout: float
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Callable[[], datetime] = utcnow
