"""`authorization_codes` collection: issued codes and their single-use claims.

A code is stored only as the SHA-256 of its value (`_id`). Its document never changes. Using
it inserts a second, claim document `_id = "used:<hash>"`: the unique `_id` makes exactly one
of any number of concurrent exchanges succeed, on MongoDB and on FerretDB alike (FerretDB's
`findAndModify` is not atomic under concurrency, a unique insert is). A failed claim is a
replay, which the caller answers by revoking everything the code produced.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

from service.clock import utcnow
from service.db import Database
from service.models.oauth import AuthorizationCode
from service.storage.ttl import delete_expired, ensure_ttl_index

COLLECTION = "authorization_codes"
# Used and expired codes are kept a day so that a late replay is still recognised.
KEEP_AFTER_EXPIRY = timedelta(days=1)
_CLAIM = "used:"


async def ensure_indexes(db: Database) -> None:
    await ensure_ttl_index(db, COLLECTION, "purge_at", 0)


def _to_doc(code: AuthorizationCode) -> dict[str, Any]:
    return {
        "_id": code.code_hash,
        "client_id": code.client_id,
        "redirect_uri": code.redirect_uri,
        "user_id": code.user_id,
        "username": code.username,
        "scopes": sorted(code.scopes),
        "code_challenge": code.code_challenge,
        "code_challenge_method": code.code_challenge_method,
        "grant_id": code.grant_id,
        "created_at": code.created_at,
        "expires_at": code.expires_at,
        "purge_at": code.expires_at + KEEP_AFTER_EXPIRY,
    }


def _from_doc(doc: dict[str, Any]) -> AuthorizationCode:
    return AuthorizationCode(
        code_hash=str(doc["_id"]),
        client_id=str(doc["client_id"]),
        redirect_uri=doc.get("redirect_uri"),
        user_id=str(doc["user_id"]),
        username=str(doc.get("username", "")),
        scopes=frozenset(doc.get("scopes", ())),
        code_challenge=doc.get("code_challenge"),
        code_challenge_method=doc.get("code_challenge_method"),
        grant_id=str(doc["grant_id"]),
        created_at=doc["created_at"],
        expires_at=doc["expires_at"],
    )


async def insert(db: Database, code: AuthorizationCode) -> None:
    await db[COLLECTION].insert_one(_to_doc(code))


async def get(db: Database, code_hash: str) -> AuthorizationCode | None:
    """The code, claimed or not, or None when unknown."""
    doc = await db[COLLECTION].find_one({"_id": code_hash})
    return None if doc is None else _from_doc(doc)


async def claim(db: Database, code: AuthorizationCode) -> bool:
    """Spend the code; True for exactly one caller, False when it was used before.

    The unique insert of the claim document is what decides (atomic on MongoDB and FerretDB
    alike, unlike find_one_and_update on FerretDB). The code's own document is left as it is:
    the claim is the one record of its use."""
    try:
        await db[COLLECTION].insert_one(
            {
                "_id": _CLAIM + code.code_hash,
                "grant_id": code.grant_id,
                "used_at": utcnow(),
                "replayed": False,
                "purge_at": code.expires_at + KEEP_AFTER_EXPIRY,
            }
        )
    except DuplicateKeyError:
        return False
    return True


async def is_claimed(db: Database, code_hash: str) -> bool:
    """Whether the code was spent (for refusals before a claim: a replay revokes all the same)."""
    return await db[COLLECTION].find_one({"_id": _CLAIM + code_hash}, {"_id": 1}) is not None


async def mark_replayed(db: Database, code_hash: str) -> None:
    await db[COLLECTION].update_one({"_id": _CLAIM + code_hash}, {"$set": {"replayed": True}})


async def was_replayed(db: Database, code_hash: str) -> bool:
    doc = await db[COLLECTION].find_one({"_id": _CLAIM + code_hash}, {"replayed": 1})
    return bool(doc and doc.get("replayed"))


async def purge(db: Database, now: datetime) -> int:
    return await delete_expired(db, COLLECTION, "purge_at", now)


async def delete_for_client(db: Database, client_id: str) -> None:
    await db[COLLECTION].delete_many({"client_id": client_id})


async def delete_for_user_client(db: Database, user_id: str, client_id: str) -> int:
    """Codes issued to the client for the user and not yet exchanged (unlinking)."""
    result = await db[COLLECTION].delete_many({"user_id": user_id, "client_id": client_id})
    return result.deleted_count
