"""`tokens` collection: access and refresh tokens we issued, stored only as SHA-256 hashes.

Tokens are revoked by marking (`revoked`), never deleted before they expire, so that
introspection and replay handling can tell "revoked" from "unknown". `grant_id` links every
token one authorization produced (one code exchange and the refreshes that followed);
`previous` is the rotation link from a refresh token to the one it succeeded.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

from service.clock import utcnow
from service.db import Database
from service.models.oauth import Token
from service.storage.ttl import delete_expired, ensure_ttl_index

COLLECTION = "tokens"
KEEP_AFTER_EXPIRY = timedelta(days=1)
_RETIRED = "retired:"
# After that a successor's next use retires its (long revoked) predecessor again: harmless.
_RETIRED_KEEP = timedelta(days=30)


def _revoke() -> dict[str, Any]:
    """Mark revoked, and due for purging a day from now at the latest: a refresh token that
    never expires has no purge date until it is revoked."""
    return {"$set": {"revoked": True}, "$min": {"purge_at": utcnow() + KEEP_AFTER_EXPIRY}}


async def ensure_indexes(db: Database) -> None:
    col = db[COLLECTION]
    await col.create_index([("grant_id", 1)])
    await col.create_index([("user_id", 1), ("client_id", 1)])
    await col.create_index([("client_id", 1)])
    await col.create_index([("previous", 1)])
    await ensure_ttl_index(db, COLLECTION, "purge_at", 0)


def _to_doc(token: Token) -> dict[str, Any]:
    return {
        "_id": token.token_hash,
        "kind": token.kind,
        "client_id": token.client_id,
        "user_id": token.user_id,
        "username": token.username,
        "scopes": sorted(token.scopes),
        "grant_id": token.grant_id,
        "issued_at": token.issued_at,
        "expires_at": token.expires_at,
        "revoked": token.revoked,
        "previous": token.previous,
        # Non-expiring tokens get no purge date (a TTL index skips documents without one).
        **({"purge_at": token.expires_at + KEEP_AFTER_EXPIRY} if token.expires_at else {}),
    }


def _from_doc(doc: dict[str, Any]) -> Token:
    return Token(
        token_hash=str(doc["_id"]),
        kind=doc["kind"],
        client_id=str(doc["client_id"]),
        user_id=doc.get("user_id"),
        username=doc.get("username"),
        scopes=frozenset(doc.get("scopes", ())),
        grant_id=doc.get("grant_id"),
        issued_at=doc["issued_at"],
        expires_at=doc.get("expires_at"),
        revoked=bool(doc.get("revoked", False)),
        previous=doc.get("previous"),
    )


async def insert_many(db: Database, tokens: list[Token]) -> None:
    await db[COLLECTION].insert_many([_to_doc(t) for t in tokens], ordered=True)


async def get(db: Database, token_hash: str) -> Token | None:
    """Any token by hash, active or not (callers check `Token.active`)."""
    doc = await db[COLLECTION].find_one({"_id": token_hash})
    return None if doc is None else _from_doc(doc)


async def find_active_access(db: Database, token_hash: str, now: datetime) -> Token | None:
    """The hot path of every Bearer call: a lookup by `_id` alone, checked here. A filter of
    `_id` only is the one FerretDB pushes down to its index; any other condition in the filter
    makes it read the whole collection."""
    doc = await db[COLLECTION].find_one({"_id": token_hash})
    if doc is None:
        return None
    token = _from_doc(doc)
    return token if token.kind == "access" and token.active(now) else None


async def revoke(db: Database, token_hash: str) -> None:
    await db[COLLECTION].update_one({"_id": token_hash}, _revoke())


async def revoke_grant(db: Database, grant_id: str) -> int:
    result = await db[COLLECTION].update_many({"grant_id": grant_id, "revoked": False}, _revoke())
    return result.modified_count


async def revoke_user_client(db: Database, user_id: str, client_id: str) -> int:
    result = await db[COLLECTION].update_many(
        {"user_id": user_id, "client_id": client_id, "revoked": False}, _revoke()
    )
    return result.modified_count


async def revoke_user(db: Database, user_id: str) -> int:
    """Every stored token of the user, for all clients (no new ones are stored since grants
    hold the state, so there is nothing later to spare)."""
    result = await db[COLLECTION].update_many({"user_id": user_id, "revoked": False}, _revoke())
    return result.modified_count


async def revoke_client(db: Database, client_id: str) -> int:
    result = await db[COLLECTION].update_many({"client_id": client_id, "revoked": False}, _revoke())
    return result.modified_count


async def retire_predecessor(db: Database, successor: Token) -> None:
    """Rotation: the successor's first use ends its predecessor and the predecessor's other
    successors (issued when a refresh was retried). Done once, as recorded by a marker document
    `retired:<predecessor hash>` (a unique insert); the successor's own document is never
    rewritten, since FerretDB writes a whole document back on update and would undo a revocation
    of it made at the same moment. Idempotent, so concurrent first uses are harmless."""
    previous = successor.previous
    if previous is None:
        return
    marker = _RETIRED + previous
    if await db[COLLECTION].find_one({"_id": marker}, {"_id": 1}) is not None:
        return
    await db[COLLECTION].update_many(
        {
            "kind": "refresh",
            "$or": [
                {"_id": previous},
                {"previous": previous, "_id": {"$ne": successor.token_hash}},
            ],
        },
        _revoke(),
    )
    with contextlib.suppress(DuplicateKeyError):
        await db[COLLECTION].insert_one(
            {"_id": marker, "kind": "retired", "purge_at": utcnow() + _RETIRED_KEEP}
        )


async def purge(db: Database, now: datetime) -> int:
    return await delete_expired(db, COLLECTION, "purge_at", now)
