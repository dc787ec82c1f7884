"""`grants` collection: remembered consent, one document per (user, client).

`scopes` is every scope the user approved for the client; a later request for a subset of them
skips the consent page. The account page lists these documents (user, client, scopes, when).

They are also the admin's list of linked accounts: each keeps the user's username and email as
Keycloak said at the last consent or login, lower-cased copies (`username_lc`, `email_lc`) for
a case-insensitive prefix search that is a range on an index, and `active_at` (the last
consent or login), the list's order. Keycloak stays the source of truth: the admin's user page
reads the current values from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from service.clock import utcnow
from service.db import Database
from service.models.oauth import Grant
from service.storage.upsert import upsert_one

COLLECTION = "grants"


# A prefix range ends below this character, which sorts after any a user can type.
PREFIX_END: Final = "\uffff"


async def ensure_indexes(db: Database) -> None:
    coll = db[COLLECTION]
    await coll.create_index([("user_id", 1), ("client_id", 1)], unique=True)
    await coll.create_index([("client_id", 1)])
    # The admin's list of linked accounts: newest activity first, and the prefix searches.
    await coll.create_index([("active_at", -1)])
    await coll.create_index([("username_lc", 1), ("active_at", -1)])
    await coll.create_index([("email_lc", 1), ("active_at", -1)])
    await _fill_search_fields(db)


async def _fill_search_fields(db: Database) -> None:
    """Consents stored before the admin search existed get its fields (idempotent; only those
    documents are written)."""
    async for doc in db[COLLECTION].find(
        {"active_at": {"$exists": False}}, {"username": 1, "updated_at": 1, "granted_at": 1}
    ):
        username = str(doc.get("username", ""))
        await db[COLLECTION].update_one(
            {"_id": doc["_id"], "active_at": {"$exists": False}},
            {
                "$set": {
                    **_identity(username, None),
                    "active_at": doc.get("updated_at") or doc.get("granted_at") or utcnow(),
                }
            },
        )


def _from_doc(doc: dict[str, Any]) -> Grant:
    return Grant(
        user_id=str(doc["user_id"]),
        username=str(doc.get("username", "")),
        client_id=str(doc["client_id"]),
        scopes=frozenset(doc.get("scopes", ())),
        granted_at=doc["granted_at"],
        updated_at=doc.get("updated_at", doc["granted_at"]),
        email=doc.get("email") or None,
        active_at=doc.get("active_at"),
    )


def _identity(username: str, email: str | None) -> dict[str, Any]:
    fields: dict[str, Any] = {"username": username, "username_lc": username.lower()}
    if email:
        fields.update(email=email, email_lc=email.lower())
    return fields


async def remember(
    db: Database,
    *,
    user_id: str,
    username: str,
    client_id: str,
    scopes: frozenset[str],
    email: str | None = None,
) -> None:
    now = utcnow()
    update = {
        "$addToSet": {"scopes": {"$each": sorted(scopes)}},
        "$set": {**_identity(username, email), "updated_at": now, "active_at": now},
        "$setOnInsert": {"granted_at": now},
    }
    query = {"user_id": user_id, "client_id": client_id}
    await upsert_one(db[COLLECTION], query, update)


async def note_login(
    db: Database, *, user_id: str, username: str, email: str | None, at: datetime
) -> None:
    """The user logged in: their consents take the name and email Keycloak gave now (users
    can be renamed), and the login counts as activity. (On FerretDB, which writes whole
    documents back, a consent of the same user at the same instant could lose a newly added
    scope: they would be asked to consent again; docs/libraries.md §7.)"""
    await db[COLLECTION].update_many(
        {"user_id": user_id},
        {"$set": _identity(username, email), "$max": {"active_at": at}},
    )


async def note_identity(db: Database, *, user_id: str, username: str, email: str | None) -> int:
    """Keycloak renamed the user (or changed their email): their consents take the new values,
    so that the admin's search finds them by them. Returns how many consents changed."""
    result = await db[COLLECTION].update_many(
        {"user_id": user_id}, {"$set": _identity(username, email)}
    )
    return result.modified_count


def _search_query(prefix: str) -> dict[str, Any]:
    """Consents whose username, email or Keycloak id starts with `prefix`, in any case: a
    range on the lower-cased copies (an index range on MongoDB; Keycloak ids are lower-case)."""
    q = prefix.strip().lower()
    if not q:
        return {}
    span = {"$gte": q, "$lt": q + PREFIX_END}
    return {"$or": [{"username_lc": span}, {"email_lc": span}, {"user_id": span}]}


async def search(db: Database, prefix: str, *, skip: int, limit: int) -> list[Grant]:
    """One page of linked accounts matching `prefix` (all when empty), newest activity first."""
    cursor = (
        db[COLLECTION]
        .find(_search_query(prefix))
        .sort([("active_at", -1), ("_id", -1)])
        .skip(skip)
        .limit(limit)
    )
    return [_from_doc(d) async for d in cursor]


async def count(db: Database, prefix: str = "") -> int:
    return await db[COLLECTION].count_documents(_search_query(prefix))


async def names(db: Database, user_ids: list[str]) -> dict[str, str]:
    """The usernames we know for these users (from their consents)."""
    if not user_ids:
        return {}
    cursor = db[COLLECTION].find({"user_id": {"$in": user_ids}}, {"user_id": 1, "username": 1})
    return {str(d["user_id"]): str(d.get("username", "")) async for d in cursor}


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
