"""Every collection's indexes, created at start (idempotent)."""

from __future__ import annotations

from service.db import Database
from service.storage import (
    audit,
    authorization_codes,
    clients,
    ended_sessions,
    grants,
    login_attempts,
    partner_tokens,
    partners,
    refresh_leases,
    revocations,
    skill_enablements,
    token_grants,
    tokens,
)

_COLLECTIONS = (
    audit,
    clients,
    authorization_codes,
    tokens,
    grants,
    partners,
    partner_tokens,
    refresh_leases,
    ended_sessions,
    login_attempts,
    revocations,
    token_grants,
    skill_enablements,
)


async def ensure_indexes(db: Database) -> None:
    for module in _COLLECTIONS:
        await module.ensure_indexes(db)
