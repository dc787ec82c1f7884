"""Storage: one module per MongoDB collection; only this package knows Mongo documents."""

from __future__ import annotations

from service.db import Database


async def ensure_indexes(db: Database) -> None:
    """Create every collection's indexes (idempotent); called at start and by `migrate`."""
    from service.storage import audit

    for module in (audit,):
        await module.ensure_indexes(db)
