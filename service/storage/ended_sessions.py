"""`ended_sessions` collection: browser sessions ended by logout, until their cookies expire.

The session itself is an encrypted cookie, so logging out can only ask the browser to drop it;
a copy of the cookie would stay valid until its max age. Each session carries a random id, and
logout records that id here (as a SHA-256 hash) so the copy is refused too.

A user disabled or deleted in Keycloak loses every session at once: `user:<user id>` records
that the user's sessions started before `before` are ended (`service.identity_sync`).
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


def _user_key(user_id: str) -> str:
    return f"user:{user_id}"


async def end_user(db: Database, user_id: str, *, before: datetime, until: datetime) -> None:
    """Every session of the user started before `before` is ended (a later call with an
    earlier time changes nothing)."""
    await upsert_one(
        db[COLLECTION],
        {"_id": _user_key(user_id)},
        {"$max": {"before": before, "expires_at": until}},
    )


async def is_ended(
    db: Database, session_id: str, *, user_id: str, started_at: datetime | None
) -> bool:
    """Whether the session was logged out, or its user's sessions were ended after it started
    (a session of unknown start counts as started before any such end). Two reads by `_id`:
    FerretDB answers `_id: {$in: …}` by reading the whole collection (85 ms with 5,000
    documents, against 0.6 ms for a read by `_id`; docs/libraries.md §7)."""
    if await db[COLLECTION].find_one({"_id": _key(session_id)}, {"_id": 1}) is not None:
        return True
    user = await db[COLLECTION].find_one({"_id": _user_key(user_id)}, {"before": 1})
    return user is not None and (started_at is None or started_at < user["before"])


async def purge(db: Database, now: datetime) -> int:
    return await delete_expired(db, COLLECTION, "expires_at", now)
