"""`revocations` collection: what was revoked wholesale, and when.

Unlinking a user from a client, revoking a grant (RFC 7009, a refresh token) and removing a
client each revoke tokens with one multi-document update, which is not atomic against a token
request running at the same moment: on FerretDB it reads the matching documents first and
writes them later, so tokens inserted meanwhile are missed. Each of them therefore writes its
record here *first*, and every token request checks the records after issuing
(`revoked_since`):
an issue either precedes the multi-update (and is revoked by it) or sees the record.

Documents: `user:<user>\\n<client>` (last unlink), `grant:<grant id>`, `client:<client id>`
(last removal), `identity:<user>` (the user was disabled or deleted in Keycloak: everything
granted to them before `at` ends), each with the time `at`; kept a day, far longer than any
request runs.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from service.db import Database
from service.storage.ttl import delete_expired, ensure_ttl_index
from service.storage.upsert import upsert_one

COLLECTION = "revocations"
KEEP = timedelta(days=1)


def _unlink_key(user_id: str, client_id: str) -> str:
    return f"user:{user_id}\n{client_id}"


async def ensure_indexes(db: Database) -> None:
    await ensure_ttl_index(db, COLLECTION, "purge_at", 0)


async def _record(db: Database, key: str, at: datetime) -> None:
    await upsert_one(db[COLLECTION], {"_id": key}, {"$set": {"at": at, "purge_at": at + KEEP}})


async def record_unlink(db: Database, user_id: str, client_id: str, at: datetime) -> None:
    await _record(db, _unlink_key(user_id, client_id), at)


async def record_grant(db: Database, grant_id: str, at: datetime) -> None:
    await _record(db, f"grant:{grant_id}", at)


async def record_identity_end(db: Database, user_id: str, at: datetime) -> None:
    """The user was disabled or deleted in Keycloak: what was granted to them before `at`, for
    any client, is revoked (`service.identity_sync`)."""
    await _record(db, _identity_key(user_id), at)


def _identity_key(user_id: str) -> str:
    return f"identity:{user_id}"


async def record_client_removal(db: Database, client_id: str, at: datetime) -> None:
    await _record(db, f"client:{client_id}", at)


async def revoked_since(
    db: Database,
    *,
    user_id: str | None,
    client_id: str,
    grant_id: str | None,
    granted_at: datetime,
) -> bool:
    """Whether what was granted at `granted_at` (the presented code, refresh token or access
    token) has been revoked since: its grant, or an unlink of its user and client, or a removal
    of its client, after that time. Servers' clocks are assumed in step (NTP); a skew of a few
    milliseconds only matters for a re-link made within it.

    One look-up by `_id` per record, side by side: FerretDB uses its index only for an `_id`
    equality (docs/libraries.md §7), and an `_id: {$in: …}` would read the whole collection."""
    timed = [f"client:{client_id}"]
    if user_id is not None:
        timed += [_unlink_key(user_id, client_id), _identity_key(user_id)]
    keys = timed + ([f"grant:{grant_id}"] if grant_id is not None else [])
    docs = await asyncio.gather(*(db[COLLECTION].find_one({"_id": key}, {"at": 1}) for key in keys))
    return any(
        doc is not None and (doc["_id"] not in timed or doc["at"] >= granted_at) for doc in docs
    )


async def purge(db: Database, now: datetime) -> int:
    return await delete_expired(db, COLLECTION, "purge_at", now)
