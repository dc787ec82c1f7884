"""`audit` collection: who did what, when (links, unlinks, refresh failures, admin changes);
kept ALS_AUDIT_RETENTION_DAYS (`purge`, run by the housekeeping loop)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from service.clock import utcnow
from service.db import Database

COLLECTION = "audit"


async def ensure_indexes(db: Database) -> None:
    await db[COLLECTION].create_index([("at", -1)])
    await db[COLLECTION].create_index([("user_id", 1), ("at", -1)])


async def record(
    db: Database, action: str, *, actor: str, user_id: str | None = None, **details: Any
) -> None:
    """Append one event. `details` must never hold a secret (tokens, codes, client secrets)."""
    await db[COLLECTION].insert_one(
        {
            "at": utcnow(),
            "action": action,
            "actor": actor,
            "user_id": user_id,
            "details": details,
        }
    )


async def recent(
    db: Database, *, limit: int = 100, user_id: str | None = None
) -> list[dict[str, Any]]:
    query: dict[str, Any] = {} if user_id is None else {"user_id": user_id}
    return await db[COLLECTION].find(query, {"_id": 0}).sort("at", -1).to_list(limit)


async def purge(db: Database, before: datetime) -> int:
    """Events older than `before` (the retention's start)."""
    return (await db[COLLECTION].delete_many({"at": {"$lt": before}})).deleted_count
