"""The purge of expired codes, tokens, ended sessions, abandoned logins and revocation records,
for servers without TTL indexes (FerretDB); on MongoDB the TTL indexes have done it already."""

from __future__ import annotations

from datetime import datetime

from service.db import Database
from service.storage import (
    authorization_codes,
    ended_sessions,
    login_attempts,
    revocations,
    tokens,
)


async def purge_expired(db: Database, now: datetime) -> int:
    return (
        await authorization_codes.purge(db, now)
        + await tokens.purge(db, now)
        + await ended_sessions.purge(db, now)
        + await login_attempts.purge(db, now)
        + await revocations.purge(db, now)
    )
