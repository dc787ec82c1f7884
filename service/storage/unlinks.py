"""`unlinks` collection: when a user last unlinked a client, one document per (user, client).

Unlinking revokes the user's tokens for the client with one multi-document update, which is
not atomic against a token request running at the same moment (on FerretDB it reads the
matching documents first and writes them later, so tokens inserted meanwhile are missed). The
token endpoint therefore checks this record after issuing: a grant older than the latest unlink
gets nothing. Written first by an unlink, so every issue either precedes the multi-update (and
is revoked by it) or sees this record.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo.errors import DuplicateKeyError

from service.db import Database
from service.storage.ttl import ensure_ttl_index

COLLECTION = "unlinks"
KEEP = timedelta(days=1)  # far longer than any token request can be under way


def _key(user_id: str, client_id: str) -> str:
    return f"{user_id}\n{client_id}"


async def ensure_indexes(db: Database) -> None:
    await ensure_ttl_index(db, COLLECTION, "purge_at", 0)


async def record(db: Database, user_id: str, client_id: str, at: datetime) -> None:
    doc = {"user_id": user_id, "client_id": client_id, "at": at, "purge_at": at + KEEP}
    try:
        await db[COLLECTION].replace_one({"_id": _key(user_id, client_id)}, doc, upsert=True)
    except DuplicateKeyError:  # a concurrent unlink inserted it first (FerretDB upsert)
        await db[COLLECTION].replace_one({"_id": _key(user_id, client_id)}, doc)


async def last(db: Database, user_id: str, client_id: str) -> datetime | None:
    doc = await db[COLLECTION].find_one({"_id": _key(user_id, client_id)}, {"at": 1})
    return None if doc is None else doc["at"]


async def purge(db: Database, now: datetime) -> int:
    result = await db[COLLECTION].delete_many({"purge_at": {"$lt": now}})
    return result.deleted_count
