"""What the linking domain needs from the running service, as plain values."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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
    # ALS_ALLOW_CUSTOM_AMAZON_URLS: partners may be called at URLs other than Amazon's.
    allow_custom_amazon_urls: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Clock = utcnow
    # A username → the id of the user who has it in Keycloak now (None: nobody); may raise
    # the 503 `KeycloakAdminUnavailable`. None here: user references are ids only.
    resolve_username: Callable[[str], Awaitable[str | None]] | None = None
