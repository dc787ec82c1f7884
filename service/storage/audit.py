"""`audit` collection: who did what, when (links, unlinks, refresh failures, admin changes);
kept ALS_AUDIT_RETENTION_DAYS (`purge`, run by the housekeeping loop)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.clock import utcnow
from service.db import Database

COLLECTION = "audit"


async def ensure_indexes(db: Database) -> None:
    coll = db[COLLECTION]
    await coll.create_index([("at", -1)])
    await coll.create_index([("user_id", 1), ("at", -1)])
    # The admin's filters (`/admin/audit`): each one an index range, newest first.
    await coll.create_index([("action", 1), ("at", -1)])
    await coll.create_index([("details.client_id", 1), ("at", -1)])
    await coll.create_index([("details.partner_id", 1), ("at", -1)])


@dataclass(frozen=True)
class Filter:
    """Which events an admin looks at; empty fields do not filter."""

    user_id: str = ""
    client_id: str = ""
    partner_id: str = ""
    action: str = ""
    since: datetime | None = None

    def query(self) -> dict[str, Any]:
        query: dict[str, Any] = {}
        if self.user_id:
            query["user_id"] = self.user_id
        if self.client_id:
            query["details.client_id"] = self.client_id
        if self.partner_id:
            query["details.partner_id"] = self.partner_id
        if self.action:
            query["action"] = self.action
        if self.since is not None:
            query["at"] = {"$gte": self.since}
        return query


_NEWEST_FIRST = [("at", -1), ("_id", -1)]


async def page(db: Database, where: Filter, *, skip: int, limit: int) -> list[dict[str, Any]]:
    """Events matching `where`, newest first, from the `skip`th on."""
    cursor = db[COLLECTION].find(where.query(), {"_id": 0}).sort(_NEWEST_FIRST)
    return await cursor.skip(skip).limit(limit).to_list(None)


async def each(db: Database, where: Filter, *, limit: int) -> AsyncIterator[dict[str, Any]]:
    """Up to `limit` events matching `where`, newest first, read as they are used."""
    cursor = db[COLLECTION].find(where.query(), {"_id": 0}).sort(_NEWEST_FIRST).limit(limit)
    async for doc in cursor:
        yield doc


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
