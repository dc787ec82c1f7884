"""`token_grants` collection: one document per authorization, the state every token of it is
checked against (`TokenGrant`); and `refresh_rotations`: where a grant of a client with the
`rotate` policy stands in its chain of refresh tokens; and `grant_uses`: when a grant's refresh
token was last used, kept only with ALS_REFRESH_TOKEN_IDLE_DAYS set (RFC 9700 §4.14.2), at a
day's precision, so that a refresh writes nothing on most days.

A token is validated with one read by `_id` (the only filter FerretDB answers from its index).
After its insert a grant document changes only when it is revoked: `revoked_at` is set, or
`access_revoked_before` raised. The rotation state lives apart, so that a rotation's write
(which FerretDB 1.24 applies as a read and a write-back of the whole document) can never undo a
concurrent revocation (docs/libraries.md §7).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from service.db import Database
from service.models.oauth import TokenGrant
from service.storage.upsert import upsert_one

COLLECTION = "token_grants"
ROTATIONS = "refresh_rotations"
USES = "grant_uses"
_PURGE_BATCH = 500


async def ensure_indexes(db: Database) -> None:
    await db[COLLECTION].create_index([("user_id", 1), ("client_id", 1)])
    await db[COLLECTION].create_index([("client_id", 1)])
    await db[COLLECTION].create_index([("revoked_at", 1)])  # the purge of revoked grants
    await db[USES].create_index([("last_used_at", 1)])  # the purge of idle grants


def _to_doc(grant: TokenGrant) -> dict[str, Any]:
    return {
        "_id": grant.grant_id,
        "client_id": grant.client_id,
        "user_id": grant.user_id,
        "username": grant.username,
        "scopes": sorted(grant.scopes),
        "created_at": grant.created_at,
        "revoked_at": grant.revoked_at,
        "access_revoked_before": grant.access_revoked_before,
    }


def _from_doc(doc: dict[str, Any]) -> TokenGrant:
    return TokenGrant(
        grant_id=str(doc["_id"]),
        client_id=str(doc["client_id"]),
        user_id=doc.get("user_id"),
        username=doc.get("username"),
        scopes=frozenset(doc.get("scopes", ())),
        created_at=doc["created_at"],
        revoked_at=doc.get("revoked_at"),
        access_revoked_before=doc.get("access_revoked_before"),
    )


async def insert(db: Database, grant: TokenGrant) -> tuple[TokenGrant, bool]:
    """Store a new grant: (it, True); when one with its id exists already: (that one, False)."""
    try:
        await db[COLLECTION].insert_one(_to_doc(grant))
    except DuplicateKeyError:
        existing = await get(db, grant.grant_id)
        if existing is not None:
            return existing, False
        raise
    return grant, True


async def get(db: Database, grant_id: str) -> TokenGrant | None:
    doc = await db[COLLECTION].find_one({"_id": grant_id})
    return None if doc is None else _from_doc(doc)


async def has_active(db: Database, user_id: str, client_id: str) -> bool:
    """Whether the user holds an authorization of the client that is not revoked (a code they
    exchanged, still linked): what lets remembered consent skip the consent page."""
    doc = await db[COLLECTION].find_one(
        {"user_id": user_id, "client_id": client_id, "revoked_at": None}, {"_id": 1}
    )
    return doc is not None


async def active_for_user(db: Database, user_id: str, *, limit: int) -> list[TokenGrant]:
    """The user's grants that are not revoked, newest first (the admin's user page)."""
    cursor = db[COLLECTION].find({"user_id": user_id, "revoked_at": None})
    docs = await cursor.sort("created_at", -1).limit(limit).to_list(None)
    return [_from_doc(d) for d in docs]


async def revoke(db: Database, grant_id: str, at: datetime) -> None:
    await db[COLLECTION].update_one(
        {"_id": grant_id, "revoked_at": None}, {"$set": {"revoked_at": at}}
    )


async def revoke_user_client(db: Database, user_id: str, client_id: str, at: datetime) -> int:
    result = await db[COLLECTION].update_many(
        {"user_id": user_id, "client_id": client_id, "revoked_at": None},
        {"$set": {"revoked_at": at}},
    )
    return result.modified_count


async def revoke_user(db: Database, user_id: str, at: datetime) -> int:
    """Every grant of the user made at or before `at` (a user disabled or deleted in Keycloak);
    grants made later, after the user was enabled again, stay."""
    result = await db[COLLECTION].update_many(
        {"user_id": user_id, "revoked_at": None, "created_at": {"$lte": at}},
        {"$set": {"revoked_at": at}},
    )
    return result.modified_count


async def revoke_client(db: Database, client_id: str, at: datetime) -> int:
    """Every grant of the client, its own client_credentials grant included."""
    result = await db[COLLECTION].update_many(
        {"client_id": client_id, "revoked_at": None}, {"$set": {"revoked_at": at}}
    )
    return result.modified_count


async def revoke_access_before(db: Database, grant_id: str, cutoff: datetime) -> None:
    """Access tokens of the grant issued before `cutoff` are no longer accepted."""
    await db[COLLECTION].update_one({"_id": grant_id}, {"$max": {"access_revoked_before": cutoff}})


# --- refresh token rotation ----------------------------------------------------------------


@dataclass(frozen=True)
class Rotation:
    """Where a grant stands in its chain of refresh tokens: generations `floor` to `current`
    are accepted, and of generation `floor` only the token that was used (`pick`)."""

    current: int = 0
    floor: int = 0
    pick: str | None = None

    def accepts(self, generation: int, nonce: str) -> bool:
        if not self.floor <= generation <= self.current:
            return False
        return generation != self.floor or self.pick is None or nonce == self.pick


async def rotation(db: Database, grant_id: str) -> Rotation:
    doc = await db[ROTATIONS].find_one({"_id": grant_id})
    if doc is None:
        return Rotation()
    return Rotation(int(doc["current"]), int(doc["floor"]), doc.get("pick"))


async def advance(db: Database, grant_id: str, used: int, nonce: str) -> None:
    """The token `nonce` of generation `used` (the newest) was used: generation `used + 1` is
    issued, and of the older ones only that token stays accepted until its successor is used.

    Two refreshes at the same moment may both advance (FerretDB evaluates the filter apart from
    the write): both answers then carry generation `used + 1`, and both are accepted, as a
    retry's answer is."""
    state = {"current": used + 1, "floor": used, "pick": nonce}
    if used == 0:
        try:
            await db[ROTATIONS].insert_one({"_id": grant_id, **state})
            return
        except DuplicateKeyError:
            pass
    await db[ROTATIONS].update_one({"_id": grant_id, "current": used}, {"$set": state})


# --- last use (ALS_REFRESH_TOKEN_IDLE_DAYS) and the purges ----------------------------------


async def last_used(db: Database, grant_id: str) -> datetime | None:
    doc = await db[USES].find_one({"_id": grant_id})
    return None if doc is None else doc.get("last_used_at")


async def record_use(db: Database, grant_id: str, at: datetime) -> None:
    """Note that the grant's refresh token was used at `at` (a separate document, so that the
    write can never undo a concurrent revocation of the grant: docs/libraries.md §7)."""
    await upsert_one(db[USES], {"_id": grant_id}, {"$max": {"last_used_at": at}})


async def _delete(db: Database, grant_ids: list[str]) -> int:
    """The grants, with their rotation state and last use."""
    deleted = 0
    for start in range(0, len(grant_ids), _PURGE_BATCH):
        batch = {"_id": {"$in": grant_ids[start : start + _PURGE_BATCH]}}
        deleted += (await db[COLLECTION].delete_many(batch)).deleted_count
        await db[ROTATIONS].delete_many(batch)
        await db[USES].delete_many(batch)
    return deleted


async def purge_revoked(db: Database, revoked_before: datetime) -> int:
    """Grants revoked before that time: their tokens are refused with or without them."""
    query = {"revoked_at": {"$lt": revoked_before}}
    return await _delete(db, [doc["_id"] async for doc in db[COLLECTION].find(query, {"_id": 1})])


async def purge_idle(db: Database, used_before: datetime) -> int:
    """Grants whose refresh token was last used before that time (with idle expiry on)."""
    query = {"last_used_at": {"$lt": used_before}}
    return await _delete(db, [doc["_id"] async for doc in db[USES].find(query, {"_id": 1})])
