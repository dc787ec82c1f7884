"""What the token, revocation and introspection endpoints need from the running service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from service.crypto import KeyRing
from service.db import Database
from service.oauth.clients import ClientDirectory


@dataclass(frozen=True)
class OAuthDeps:
    db: Database
    keyring: KeyRing  # ALS_TOKEN_KEYS: signs and checks our tokens (`token_format`)
    clients: ClientDirectory
    # RFC 9700 §4.14.2: a refresh token unused this long expires (ALS_REFRESH_TOKEN_IDLE_DAYS);
    # None: never.
    refresh_idle: timedelta | None = None
