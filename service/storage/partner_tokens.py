"""`partner_tokens` collection: the user's LWA tokens for a partner, one current set per
(user, partner).

Access and refresh tokens are stored only sealed, bound to (user, partner, field). Every change
of a set (link, re-link, refresh, unlink, deactivation) is the insert of a new document for the
next ``generation``, with ``_id`` = ``"<partner> <generation> <user>"``, followed by deleting
the older ones; readers take the highest generation. The insert alone decides a race: two
writers that saw generation N both insert N+1 under the same ``_id`` and exactly one succeeds,
on MongoDB and on FerretDB alike. A conditional update is no such guarantee on FerretDB 1.24,
which evaluates the filter apart from the write and then writes the whole document back: an
unlink racing a refresh was lost there in 24 of 60 tries, and a refresh overwrote a re-link.
The refresh lease (storage/refresh_leases.py) names the generation it refreshes.

``username`` is the user's name when they linked, for display only: Keycloak users can be
renamed and names reused, so a username given to the partner API is resolved to the current id
through Keycloak (`service.user_directory`), never matched against this snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Final

from pymongo.errors import DuplicateKeyError, OperationFailure

from service.clock import mongo_time
from service.db import Database
from service.models.linking import LinkStatus, PartnerLink, token_context
from service.models.oauth import TokenKind
from service.models.sealed import Sealed, SealedField

COLLECTION = "partner_tokens"
FIELDS: dict[TokenKind, str] = {"access": "access_token_enc", "refresh": "refresh_token_enc"}
WRITE_TRIES: Final = 20  # a writer that keeps losing races gives up (never seen beyond 3)
_LEGACY_UNIQUE_INDEX: Final = "user_id_1_partner_id_1"  # one document per link, before versions


class ConcurrentChange(RuntimeError):
    """The set kept changing under a writer for WRITE_TRIES attempts."""


async def ensure_indexes(db: Database) -> None:
    coll = db[COLLECTION]
    # Databases made before sets were versioned have a unique index that would refuse the
    # next generation's document.
    legacy = (await coll.index_information()).get(_LEGACY_UNIQUE_INDEX)
    if legacy is not None and legacy.get("unique"):
        with contextlib.suppress(OperationFailure):  # another process dropped it first
            await coll.drop_index(_LEGACY_UNIQUE_INDEX)
    await coll.create_index([("user_id", 1), ("partner_id", 1), ("generation", -1)])
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


def _doc_id(user_id: str, partner_id: str, generation: int) -> str:
    # Partner ids have no blanks (linking/partners.py) and the user id comes last: unambiguous.
    return f"{partner_id} {generation} {user_id}"


def _to_doc(link: PartnerLink) -> dict[str, Any]:
    return {
        "_id": _doc_id(link.user_id, link.partner_id, link.generation),
        **_key(link.user_id, link.partner_id),
        "username": link.username,
        "status": link.status.value,
        "status_reason": link.status_reason,
        FIELDS["access"]: None if link.access_token is None else link.access_token.ciphertext,
        FIELDS["refresh"]: None if link.refresh_token is None else link.refresh_token.ciphertext,
        "expires_at": link.expires_at,
        "refresh_at": link.refresh_at,
        "alexa_api_base": link.alexa_api_base,
        "generation": link.generation,
        "linked_at": link.linked_at,
        "refreshed_at": link.refreshed_at,
        "updated_at": link.updated_at,
    }


async def _insert_next(db: Database, link: PartnerLink) -> bool:
    """Make `link` the current set: insert it, then delete the sets it replaces. False when
    another writer took this generation first, or when a newer set exists by the time ours is
    in: then the writer read a set that changed twice meanwhile (the second change's clean-up
    freed this `_id`), or a change came right after ours; either way ours is not current, and
    the writer retries on top of the newer set or, for a refresh, gives up."""
    try:
        await db[COLLECTION].insert_one(_to_doc(link))
    except DuplicateKeyError:
        return False
    key = _key(link.user_id, link.partner_id)
    await db[COLLECTION].delete_many({**key, "generation": {"$lt": link.generation}})
    newer = {**key, "generation": {"$gt": link.generation}}
    if await db[COLLECTION].find_one(newer, {"_id": 1}) is not None:
        await db[COLLECTION].delete_one(
            {"_id": _doc_id(link.user_id, link.partner_id, link.generation)}
        )
        return False
    return True


async def store_link(
    db: Database,
    *,
    user_id: str,
    username: str | None,
    partner_id: str,
    access_token: Sealed,
    refresh_token: Sealed | None,
    expires_at: datetime,
    refresh_at: datetime,
    alexa_api_base: str,
    now: datetime,
) -> PartnerLink:
    """Store a freshly exchanged token set as the current one, replacing any earlier set."""
    for attempt in range(WRITE_TRIES):
        await _after_losing(attempt)
        current = await get(db, user_id, partner_id)
        link = PartnerLink(
            user_id=user_id,
            username=username,
            partner_id=partner_id,
            status=LinkStatus.ACTIVE,
            status_reason=None,
            access_token=access_token,
            refresh_token=refresh_token,
            expires_at=expires_at,
            refresh_at=refresh_at,
            alexa_api_base=alexa_api_base,
            generation=(0 if current is None else current.generation) + 1,
            linked_at=now,
            refreshed_at=None,
            updated_at=now,
        )
        if await _insert_next(db, link):
            return link
    raise ConcurrentChange("the user's link kept changing; try again")


async def _after_losing(attempt: int) -> None:
    """Before trying again after losing `attempt` races: a short random pause, growing with
    the losses, so that writers that keep colliding (ten at once in a test on a loaded
    machine once lost twenty times in a row) spread out instead of colliding again."""
    if attempt:
        await asyncio.sleep(random.uniform(0, 0.002 * attempt))  # noqa: S311 - not a secret


async def get(db: Database, user_id: str, partner_id: str) -> PartnerLink | None:
    """The current set: the highest generation (an older one may linger for a moment)."""
    docs = await db[COLLECTION].find(_key(user_id, partner_id)).sort("generation", -1).to_list(1)
    return _from_doc(docs[0]) if docs else None


async def list_links(
    db: Database, *, user_id: str | None = None, partner_id: str | None = None
) -> list[PartnerLink]:
    query: dict[str, Any] = {}
    if user_id is not None:
        query["user_id"] = user_id
    if partner_id is not None:
        query["partner_id"] = partner_id
    current: dict[tuple[str, str], dict[str, Any]] = {}
    async for doc in db[COLLECTION].find(query):
        key = (doc["user_id"], doc["partner_id"])
        if key not in current or doc["generation"] > current[key]["generation"]:
            current[key] = doc
    links = [_from_doc(doc) for doc in current.values()]
    return sorted(links, key=lambda link: link.linked_at, reverse=True)


async def links_of_users(db: Database, user_ids: list[str]) -> dict[tuple[str, str], PartnerLink]:
    """The current link of each (user, partner) of these users (the admin's list)."""
    if not user_ids:
        return {}
    current: dict[tuple[str, str], dict[str, Any]] = {}
    async for doc in db[COLLECTION].find({"user_id": {"$in": user_ids}}):
        key = (doc["user_id"], doc["partner_id"])
        if key not in current or doc["generation"] > current[key]["generation"]:
            current[key] = doc
    return {key: _from_doc(doc) for key, doc in current.items()}


async def names(db: Database, user_ids: list[str]) -> dict[str, str]:
    """The usernames these users had when they linked a partner."""
    if not user_ids:
        return {}
    cursor = db[COLLECTION].find({"user_id": {"$in": user_ids}}, {"user_id": 1, "username": 1})
    return {str(d["user_id"]): str(d["username"]) async for d in cursor if d.get("username")}


async def complete_refresh(
    db: Database,
    link: PartnerLink,
    *,
    access_token: Sealed,
    refresh_token: Sealed | None,
    expires_at: datetime,
    refresh_at: datetime,
    now: datetime,
) -> bool:
    """Replace the set `link` saw with the refreshed one, unless it changed meanwhile (re-link
    or end)."""
    refreshed = dataclasses.replace(
        link,
        status=LinkStatus.ACTIVE,
        status_reason=None,
        access_token=access_token,
        refresh_token=refresh_token,
        expires_at=expires_at,
        refresh_at=refresh_at,
        generation=link.generation + 1,
        refreshed_at=now,
        updated_at=now,
    )
    return await _insert_next(db, refreshed)


async def end_link(
    db: Database,
    user_id: str,
    partner_id: str,
    *,
    status: LinkStatus,
    reason: str,
    now: datetime,
    generation: int | None = None,
    linked_at: datetime | None = None,
) -> bool:
    """Mark an active link revoked/inactive and delete its tokens. With `generation`, only if
    the stored set is still that one; with `linked_at`, only if it still comes from that
    linking (refreshes since then are fine). A re-link in the meantime is left alone."""
    for attempt in range(WRITE_TRIES):
        await _after_losing(attempt)
        current = await get(db, user_id, partner_id)
        if current is None or current.status is not LinkStatus.ACTIVE:
            return False
        if generation is not None and current.generation != generation:
            return False
        if linked_at is not None and mongo_time(current.linked_at) != mongo_time(linked_at):
            return False
        ended = dataclasses.replace(
            current,
            status=status,
            status_reason=reason,
            access_token=None,
            refresh_token=None,
            expires_at=None,
            refresh_at=None,
            generation=current.generation + 1,
            updated_at=now,
        )
        if await _insert_next(db, ended):
            return True
        # Another change won: judge the set it made (an unlink also ends a refreshed set).
    raise ConcurrentChange("the user's link kept changing; try again")


async def delete_for_partner(db: Database, partner_id: str) -> int:
    """Delete every user's set for the partner; the number of links (not documents)."""
    users = {
        doc["user_id"]
        async for doc in db[COLLECTION].find({"partner_id": partner_id}, {"user_id": 1})
    }
    await db[COLLECTION].delete_many({"partner_id": partner_id})
    return len(users)


async def count_by_status(db: Database, partner_id: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for link in await list_links(db, partner_id=partner_id):
        counts[link.status.value] = counts.get(link.status.value, 0) + 1
    return counts


async def sealed_fields(db: Database) -> AsyncIterator[SealedField]:
    """Every stored LWA token, for re-encryption under a new key. Other writers never change a
    document in place (they insert the next generation), so swapping a field in place is safe."""
    projection = {"user_id": 1, "partner_id": 1, **{f: 1 for f in FIELDS.values()}}
    async for doc in db[COLLECTION].find({}, projection):
        for kind, name in FIELDS.items():
            value = doc.get(name)
            if isinstance(value, str):
                context = token_context(doc["user_id"], doc["partner_id"], kind)
                yield SealedField(COLLECTION, str(doc["_id"]), name, Sealed(value, context))


async def purge_ended(db: Database, ended_before: datetime) -> int:
    """Links that ended (revoked or inactive: their tokens are gone already) before that time;
    the user's next link starts afresh. The ended set is the newest document of its link, so
    nothing newer is touched; a re-link meanwhile has deleted it already."""
    ended = [LinkStatus.REVOKED.value, LinkStatus.INACTIVE.value]
    result = await db[COLLECTION].delete_many(
        {"status": {"$in": ended}, "updated_at": {"$lt": ended_before}}
    )
    return result.deleted_count
