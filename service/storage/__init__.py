"""Storage: one module per MongoDB collection; only this package knows Mongo documents."""

from __future__ import annotations

from service.db import Database


async def ensure_indexes(db: Database) -> None:
    """Create every collection's indexes (idempotent); called at start and by `migrate`."""
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
        tokens,
    )

    for module in (
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
    ):
        await module.ensure_indexes(db)
