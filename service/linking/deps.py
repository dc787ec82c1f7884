"""What the linking domain needs from the running service, as plain values."""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp

from service.amazon.retry import RetryPolicy
from service.clock import Clock, utcnow
from service.crypto import KeyRing
from service.db import Database


@dataclass(frozen=True)
class LinkingDeps:
    db: Database
    http: aiohttp.ClientSession
    keyring: KeyRing  # seals the LWA secrets and tokens we hold
    token_keys: KeyRing  # checks our own access tokens (AcceptGrant's grantee token)
    lwa_timeout: float
    alexa_timeout: float
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Clock = utcnow
