"""`grants` collection: remembered consent, one document per (user, client).

`scopes` is every scope the user approved for the client; a later request for a subset of them
skips the consent page. The account page lists these documents (user, client, scopes, when).
"""

from __future__ import annotations

from typing import Any

from service.clock import utcnow
from service.db import Database
from service.models.oauth import Grant
from service.storage.upsert import upsert_one

COLLECTION = "grants"


async def ensure_indexes(db: Database) -> None:
    await db[COLLECTION].create_index([("user_id", 1), ("client_id", 1)], unique=True)
    await db[COLLECTION].create_index([("client_id", 1)])


def _from_doc(doc: dict[str, Any]) -> Grant:
    return Grant(
        user_id=str(doc["user_id"]),
        username=str(doc.get("username", "")),
        client_id=str(doc["client_id"]),
        scopes=frozenset(doc.get("scopes", ())),
        granted_at=doc["granted_at"],
        updated_at=doc.get("updated_at", doc["granted_at"]),
    )


async def remember(
    db: Database, *, user_id: str, username: str, client_id: str, scopes: frozenset[str]
) -> None:
    now = utcnow()
    update = {
        "$addToSet": {"scopes": {"$each": sorted(scopes)}},
        "$set": {"username": username, "updated_at": now},
        "$setOnInsert": {"granted_at": now},
    }
    query = {"user_id": user_id, "client_id": client_id}
    await upsert_one(db[COLLECTION], query, update)


async def get(db: Database, *, user_id: str, client_id: str) -> Grant | None:
    doc = await db[COLLECTION].find_one({"user_id": user_id, "client_id": client_id})
    return None if doc is None else _from_doc(doc)


async def list_for_user(db: Database, user_id: str) -> list[Grant]:
    docs = await db[COLLECTION].find({"user_id": user_id}).sort("granted_at", 1).to_list(None)
    return [_from_doc(d) for d in docs]


async def list_for_client(db: Database, client_id: str) -> list[Grant]:
    docs = await db[COLLECTION].find({"client_id": client_id}).to_list(None)
    return [_from_doc(d) for d in docs]


async def list_all(db: Database, *, limit: int = 1000) -> list[Grant]:
    docs = await db[COLLECTION].find({}).sort("updated_at", -1).to_list(limit)
    return [_from_doc(d) for d in docs]


async def forget(db: Database, *, user_id: str, client_id: str) -> bool:
    result = await db[COLLECTION].delete_one({"user_id": user_id, "client_id": client_id})
    return result.deleted_count == 1


async def forget_client(db: Database, client_id: str) -> int:
    result = await db[COLLECTION].delete_many({"client_id": client_id})
    return result.deleted_count
