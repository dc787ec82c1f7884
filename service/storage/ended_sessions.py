"""`ended_sessions` collection: browser sessions ended by logout, until their cookies expire.

The session itself is an encrypted cookie, so logging out can only ask the browser to drop it;
a copy of the cookie would stay valid until its max age. Each session carries a random id, and
logout records that id here (as a SHA-256 hash) so the copy is refused too.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from service.db import Database
from service.storage.ttl import delete_expired, ensure_ttl_index
from service.storage.upsert import upsert_one

COLLECTION = "ended_sessions"


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def ensure_indexes(db: Database) -> None:
    await ensure_ttl_index(db, COLLECTION, "expires_at", 0)


async def end(db: Database, session_id: str, *, until: datetime) -> None:
    await upsert_one(db[COLLECTION], {"_id": _key(session_id)}, {"$set": {"expires_at": until}})


async def is_ended(db: Database, session_id: str) -> bool:
    return await db[COLLECTION].find_one({"_id": _key(session_id)}, {"_id": 1}) is not None


async def purge(db: Database, now: datetime) -> int:
    return await delete_expired(db, COLLECTION, "expires_at", now)
