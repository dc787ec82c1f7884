"""`partner_tokens` collection: one document per (user, partner) with that user's LWA tokens.

Access and refresh tokens are stored only sealed, bound to (user, partner, field). A new link
replaces the earlier set in one upsert; each write of tokens bumps ``generation`` so that a
refresh, a re-link and a deactivation can each be made conditional on the set they saw, and
so that the refresh lease (storage/refresh_leases.py) names the set it refreshes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from service.crypto import KeyRing, KeyRingError
from service.db import Database
from service.storage.sealing import RekeyCount, Sealed

COLLECTION = "partner_tokens"
TokenKind = Literal["access", "refresh"]
FIELDS: dict[TokenKind, str] = {"access": "access_token_enc", "refresh": "refresh_token_enc"}


class LinkStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"  # LWA refused the refresh token, or the user/admin unlinked
    INACTIVE = "inactive"  # Alexa answered 403: skill disabled or permission withdrawn


@dataclass(frozen=True)
class PartnerLink:
    user_id: str
    username: str | None
    partner_id: str
    status: LinkStatus
    status_reason: str | None
    access_token: Sealed | None
    refresh_token: Sealed | None
    expires_at: datetime | None
    refresh_at: datetime | None  # serve the stored access token until then
    alexa_api_base: str
    generation: int
    linked_at: datetime
    refreshed_at: datetime | None
    updated_at: datetime


def token_context(user_id: str, partner_id: str, kind: TokenKind) -> str:
    return f"partner_tokens:{user_id}:{partner_id}:{kind}"


async def ensure_indexes(db: Database) -> None:
    coll = db[COLLECTION]
    await coll.create_index([("user_id", 1), ("partner_id", 1)], unique=True)
    await coll.create_index([("username", 1), ("partner_id", 1)])
    await coll.create_index([("partner_id", 1), ("status", 1)])


def _sealed(doc: dict[str, Any], kind: TokenKind) -> Sealed | None:
    value = doc.get(FIELDS[kind])
    if not isinstance(value, str):
        return None
    return Sealed(value, token_context(doc["user_id"], doc["partner_id"], kind))


def _from_doc(doc: dict[str, Any]) -> PartnerLink:
    return PartnerLink(
        user_id=doc["user_id"],
        username=doc.get("username"),
        partner_id=doc["partner_id"],
        status=LinkStatus(doc["status"]),
        status_reason=doc.get("status_reason"),
        access_token=_sealed(doc, "access"),
        refresh_token=_sealed(doc, "refresh"),
        expires_at=doc.get("expires_at"),
        refresh_at=doc.get("refresh_at"),
        alexa_api_base=doc["alexa_api_base"],
        generation=int(doc.get("generation", 0)),
        linked_at=doc["linked_at"],
        refreshed_at=doc.get("refreshed_at"),
        updated_at=doc["updated_at"],
    )


def _key(user_id: str, partner_id: str) -> dict[str, Any]:
    return {"user_id": user_id, "partner_id": partner_id}



async def store_link(
    db: Database,
    keyring: KeyRing,
    *,
    user_id: str,
    username: str | None,
    partner_id: str,
    access_token: str,
    refresh_token: str | None,
    expires_at: datetime,
    refresh_at: datetime,
    alexa_api_base: str,
    now: datetime,
) -> PartnerLink:
    """Store a freshly exchanged token set, replacing any earlier one in a single upsert."""
    update = {
        "$set": {
            "username": username,
            "status": LinkStatus.ACTIVE.value,
            "status_reason": None,
            FIELDS["access"]: keyring.encrypt(
                access_token, context=token_context(user_id, partner_id, "access")
            ),
            FIELDS["refresh"]: None if refresh_token is None else keyring.encrypt(
                refresh_token, context=token_context(user_id, partner_id, "refresh")
            ),
            "expires_at": expires_at,
            "refresh_at": refresh_at,
            "alexa_api_base": alexa_api_base,
            "linked_at": now,
            "refreshed_at": None,
            "updated_at": now,
        },
        "$inc": {"generation": 1},
    }
    for attempt in range(2):
        try:
            doc = await db[COLLECTION].find_one_and_update(
                _key(user_id, partner_id), update, upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            # Two first links raced on the upsert; the second attempt updates the winner's row.
            if attempt:
                raise
            continue
        assert doc is not None
        return _from_doc(doc)
    raise AssertionError("unreachable")


async def get(db: Database, user_id: str, partner_id: str) -> PartnerLink | None:
    doc = await db[COLLECTION].find_one(_key(user_id, partner_id))
    return None if doc is None else _from_doc(doc)


async def find(db: Database, user_ref: str, partner_id: str) -> PartnerLink | None:
    """By our user's Keycloak id (sub) first, else by username (the newest such link)."""
    link = await get(db, user_ref, partner_id)
    if link is not None:
        return link
    docs = await db[COLLECTION].find({"username": user_ref, "partner_id": partner_id}).sort(
        "linked_at", -1
    ).to_list(1)
    return _from_doc(docs[0]) if docs else None


async def list_links(
    db: Database, *, user_id: str | None = None, partner_id: str | None = None
) -> list[PartnerLink]:
    query: dict[str, Any] = {}
    if user_id is not None:
        query["user_id"] = user_id
    if partner_id is not None:
        query["partner_id"] = partner_id
    return [_from_doc(d) async for d in db[COLLECTION].find(query).sort("linked_at", -1)]


async def complete_refresh(
    db: Database,
    keyring: KeyRing,
    link: PartnerLink,
    *,
    access_token: str,
    refresh_token: str | None,
    expires_at: datetime,
    refresh_at: datetime,
    now: datetime,
) -> bool:
    """Replace the set `link` saw with the refreshed one, unless it changed meanwhile (re-link
    or end). A refresh token of None keeps the stored one (LWA may or may not rotate)."""
    fields: dict[str, Any] = {
        FIELDS["access"]: keyring.encrypt(
            access_token, context=token_context(link.user_id, link.partner_id, "access")
        ),
        "expires_at": expires_at,
        "refresh_at": refresh_at,
        "refreshed_at": now,
        "updated_at": now,
    }
    if refresh_token is not None:
        fields[FIELDS["refresh"]] = keyring.encrypt(
            refresh_token, context=token_context(link.user_id, link.partner_id, "refresh")
        )
    result = await db[COLLECTION].update_one(
        {**_key(link.user_id, link.partner_id), "generation": link.generation},
        {"$set": fields, "$inc": {"generation": 1}},
    )
    return result.modified_count == 1


async def end_link(
    db: Database,
    user_id: str,
    partner_id: str,
    *,
    status: LinkStatus,
    reason: str,
    now: datetime,
    generation: int | None = None,
) -> bool:
    """Mark an active link revoked/inactive and delete its tokens. With `generation`, only if
    the stored set is still that one (a re-link in the meantime is left alone)."""
    query: dict[str, Any] = {**_key(user_id, partner_id), "status": LinkStatus.ACTIVE.value}
    if generation is not None:
        query["generation"] = generation
    result = await db[COLLECTION].update_one(
        query,
        {
            "$set": {
                "status": status.value,
                "status_reason": reason,
                FIELDS["access"]: None,
                FIELDS["refresh"]: None,
                "expires_at": None,
                "refresh_at": None,
                "updated_at": now,
            },
            "$inc": {"generation": 1},
        },
    )
    return result.modified_count == 1


async def delete_for_partner(db: Database, partner_id: str) -> int:
    result = await db[COLLECTION].delete_many({"partner_id": partner_id})
    return result.deleted_count


async def count_by_status(db: Database, partner_id: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    async for doc in db[COLLECTION].find({"partner_id": partner_id}, {"status": 1}):
        counts[doc["status"]] = counts.get(doc["status"], 0) + 1
    return counts


async def reseal_all(db: Database, keyring: KeyRing) -> RekeyCount:
    """Re-encrypt every stale token under the primary key. Each field is swapped only if it
    still holds the ciphertext we read, so a concurrent refresh is never overwritten."""
    count = RekeyCount(COLLECTION)
    projection = {"user_id": 1, "partner_id": 1, **{f: 1 for f in FIELDS.values()}}
    async for doc in db[COLLECTION].find({}, projection):
        for kind, name in FIELDS.items():
            old = doc.get(name)
            if not isinstance(old, str):
                continue
            count = dataclasses.replace(count, scanned=count.scanned + 1)
            if keyring.is_current(old):
                continue
            try:
                new = keyring.reencrypt(
                    old, context=token_context(doc["user_id"], doc["partner_id"], kind)
                )
            except KeyRingError:
                count = dataclasses.replace(count, failed=count.failed + 1)
                continue
            result = await db[COLLECTION].update_one(
                {"_id": doc["_id"], name: old}, {"$set": {name: new}}
            )
            if result.modified_count:
                count = dataclasses.replace(count, reencrypted=count.reencrypted + 1)
            else:
                count = dataclasses.replace(count, raced=count.raced + 1)
    return count
