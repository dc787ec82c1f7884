"""`clients` collection: the OAuth clients we serve (Alexa skills, the app backend)."""

from __future__ import annotations

import logging
import re
from typing import Any

from pymongo.errors import DuplicateKeyError

from service.clock import utcnow
from service.db import Database
from service.models.oauth import PARTNER_TOKEN, OAuthClient, partner_token_permission
from service.storage import partners

COLLECTION = "clients"

log = logging.getLogger(__name__)


class ClientExists(Exception):
    """A client with this id is already registered."""


async def ensure_indexes(db: Database) -> None:
    # `_id` is the client id, unique by construction; listing sorts by name.
    await db[COLLECTION].create_index([("name", 1)])
    await migrate_bare_partner_token(db)


async def migrate_bare_partner_token(db: Database) -> list[str]:
    """Clients stored with the bare `partner_token` permission (which once meant every
    partner's tokens) get `partner_token:<id>` for every partner that exists now instead, with
    a warning naming each: they keep what they could do, and no partner added later is theirs
    without an admin saying so. Runs at every start (with the indexes); idempotent, and a
    concurrent run in another process writes the same. Returns the ids of the clients changed.
    """
    docs = await db[COLLECTION].find({"permissions": PARTNER_TOKEN}).to_list(None)
    if not docs:
        return []
    partner_ids = sorted(p.partner_id for p in await partners.list_all(db))
    changed = []
    for doc in docs:
        kept = [p for p in doc.get("permissions", ()) if p != PARTNER_TOKEN]
        granted = [partner_token_permission(pid) for pid in partner_ids]
        await db[COLLECTION].update_one(
            {"_id": doc["_id"], "permissions": PARTNER_TOKEN},
            {"$set": {"permissions": sorted({*kept, *granted})}},
        )
        changed.append(str(doc["_id"]))
        log.warning(
            "client %s had the bare partner_token permission (every partner): it now has "
            "partner_token for the partners that exist (%s); review it on the admin page",
            doc["_id"],
            ", ".join(partner_ids) or "none",
        )
    return changed


def _to_doc(client: OAuthClient) -> dict[str, Any]:
    return {
        "_id": client.client_id,
        "secret_hash": client.secret_hash,
        "name": client.name,
        "redirect_uris": list(client.redirect_uris),
        "grant_types": sorted(client.grant_types),
        "scopes": sorted(client.scopes),
        "require_pkce": client.require_pkce,
        "access_token_ttl": client.access_token_ttl,
        "refresh_token_ttl": client.refresh_token_ttl,
        "refresh_policy": client.refresh_policy,
        "permissions": sorted(client.permissions),
        "authorization_response_iss": client.authorization_response_iss,
        "created_at": client.created_at or utcnow(),
    }


def _from_doc(doc: dict[str, Any]) -> OAuthClient:
    return OAuthClient(
        client_id=str(doc["_id"]),
        secret_hash=str(doc["secret_hash"]),
        name=str(doc.get("name", "")),
        redirect_uris=tuple(doc.get("redirect_uris", ())),
        grant_types=frozenset(doc.get("grant_types", ())),
        scopes=frozenset(doc.get("scopes", ())),
        require_pkce=bool(doc.get("require_pkce", False)),
        access_token_ttl=int(doc.get("access_token_ttl", 3600)),
        refresh_token_ttl=int(doc.get("refresh_token_ttl", 0)),
        refresh_policy=str(doc.get("refresh_policy", "reuse")),
        permissions=frozenset(doc.get("permissions", ())),
        created_at=doc.get("created_at"),
        authorization_response_iss=bool(doc.get("authorization_response_iss", False)),
    )


async def insert(db: Database, client: OAuthClient) -> None:
    try:
        await db[COLLECTION].insert_one(_to_doc(client))
    except DuplicateKeyError:
        raise ClientExists(client.client_id) from None


async def replace(db: Database, client: OAuthClient) -> bool:
    """Overwrite a client's registration, but not its secret (`set_secret_hash` alone sets it,
    so an edit cannot undo a rotation made meanwhile); False when it does not exist."""
    doc = _to_doc(client)
    doc.pop("created_at")
    doc.pop("secret_hash")
    result = await db[COLLECTION].update_one({"_id": client.client_id}, {"$set": doc})
    return result.matched_count == 1


async def get(db: Database, client_id: str) -> OAuthClient | None:
    doc = await db[COLLECTION].find_one({"_id": client_id})
    return None if doc is None else _from_doc(doc)


async def list_all(db: Database) -> list[OAuthClient]:
    docs = await db[COLLECTION].find({}).sort([("name", 1), ("_id", 1)]).to_list(None)
    return [_from_doc(doc) for doc in docs]


def _search_query(prefix: str) -> dict[str, Any]:
    """Clients whose id or name starts with `prefix`, in any case (an anchored regex: there
    are tens of clients, not thousands)."""
    q = prefix.strip()
    if not q:
        return {}
    start = {"$regex": "^" + re.escape(q), "$options": "i"}
    return {"$or": [{"_id": start}, {"name": start}]}


async def page(db: Database, prefix: str, *, skip: int, limit: int) -> list[OAuthClient]:
    cursor = db[COLLECTION].find(_search_query(prefix)).sort([("name", 1), ("_id", 1)])
    return [_from_doc(doc) async for doc in cursor.skip(skip).limit(limit)]


async def count(db: Database, prefix: str = "") -> int:
    return await db[COLLECTION].count_documents(_search_query(prefix))


async def names(db: Database) -> dict[str, str]:
    """Every client's name by its id (for pages that show names next to ids)."""
    return {
        str(d["_id"]): str(d.get("name", "")) async for d in db[COLLECTION].find({}, {"name": 1})
    }


async def set_secret_hash(db: Database, client_id: str, secret_hash: str) -> bool:
    result = await db[COLLECTION].update_one(
        {"_id": client_id}, {"$set": {"secret_hash": secret_hash}}
    )
    return result.matched_count == 1


async def delete(db: Database, client_id: str) -> bool:
    result = await db[COLLECTION].delete_one({"_id": client_id})
    return result.deleted_count == 1
