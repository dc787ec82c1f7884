"""`authorization_codes` collection: issued codes, stored only as the SHA-256 of their value
(`_id`). A code's document never changes. Exchanging it makes its grant, under the grant id the
code names (`storage.token_grants`), and then records that the answer was given: the document
`answered:<hash>`, whose insert exactly one of any number of concurrent exchanges wins. A code
answered before is spent, and using it again is a replay; a code whose grant was made but whose
answer never went out (the database failed in between) may be exchanged again by its client
while it lives (`service.oauth.token.exchange_code`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

from service.db import Database
from service.models.oauth import AuthorizationCode
from service.storage.ttl import delete_expired, ensure_ttl_index

COLLECTION = "authorization_codes"
# Expired codes are kept a day so that a late replay is still recognised.
KEEP_AFTER_EXPIRY = timedelta(days=1)


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


def _answered_id(code_hash: str) -> str:
    return f"answered:{code_hash}"


async def mark_answered(db: Database, code: AuthorizationCode, at: datetime) -> bool:
    """Record that the code's tokens are being handed out: True for the one exchange that does
    it, False when it was recorded before (a replay, or a concurrent exchange that won). Kept
    as long as the code's own document."""
    doc = {
        "_id": _answered_id(code.code_hash),
        "grant_id": code.grant_id,
        "at": at,
        "purge_at": code.expires_at + KEEP_AFTER_EXPIRY,
    }
    try:
        await db[COLLECTION].insert_one(doc)
    except DuplicateKeyError:
        return False
    return True


async def answered(db: Database, code_hash: str) -> bool:
    return await db[COLLECTION].find_one({"_id": _answered_id(code_hash)}, {"_id": 1}) is not None


async def purge(db: Database, now: datetime) -> int:
    return await delete_expired(db, COLLECTION, "purge_at", now)


async def delete_for_client(db: Database, client_id: str) -> None:
    await db[COLLECTION].delete_many({"client_id": client_id})


async def delete_for_user(db: Database, user_id: str, *, issued_before: datetime) -> int:
    """The user's codes issued at or before that time, for every client (a user disabled or
    deleted in Keycloak)."""
    result = await db[COLLECTION].delete_many(
        {"user_id": user_id, "created_at": {"$lte": issued_before}}
    )
    return result.deleted_count


async def delete_for_user_client(db: Database, user_id: str, client_id: str) -> int:
    """Codes issued to the client for the user and not yet exchanged (unlinking)."""
    result = await db[COLLECTION].delete_many({"user_id": user_id, "client_id": client_id})
    return result.deleted_count
