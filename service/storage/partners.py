"""`partners` collection: the skills we hold LWA credentials for (docs/flows.md, Storage).

A partner's id is the OAuth client id we vend to Alexa (Amazon's sample uses the same id for
both). The LWA client secret arrives sealed by the domain, bound to the partner id.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from service.db import Database
from service.models.linking import Partner, SkillStage, secret_context
from service.models.sealed import Sealed, SealedField

COLLECTION = "partners"
SECRET_FIELD = "lwa_client_secret_enc"  # noqa: S105 - a field name, not a secret


class PartnerExists(Exception):
    """A partner with this id already exists (pass replace=True to overwrite it)."""


async def ensure_indexes(db: Database) -> None:
    # `_id` is the partner id: unique by construction. Look-ups by LWA client id are for admins.
    await db[COLLECTION].create_index([("lwa_client_id", 1)])


def _from_doc(doc: dict[str, Any]) -> Partner:
    partner_id = str(doc["_id"])
    return Partner(
        partner_id=partner_id,
        lwa_client_id=doc["lwa_client_id"],
        lwa_client_secret=Sealed(doc[SECRET_FIELD], secret_context(partner_id)),
        lwa_token_url=doc["lwa_token_url"],
        alexa_api_base=doc["alexa_api_base"],
        scopes=tuple(doc.get("scopes") or ()),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        skill_id=doc.get("skill_id"),
        skill_stage=doc.get("skill_stage"),
        lwa_authorize_url=doc.get("lwa_authorize_url"),
    )


async def save(
    db: Database,
    *,
    partner_id: str,
    lwa_client_id: str,
    lwa_client_secret: Sealed,
    lwa_token_url: str,
    alexa_api_base: str,
    scopes: tuple[str, ...],
    now: datetime,
    replace: bool = False,
    skill_id: str | None = None,
    skill_stage: SkillStage | None = None,
    lwa_authorize_url: str | None = None,
) -> Partner:
    """Create a partner, or with `replace` overwrite one (its created_at is kept)."""
    fields: dict[str, Any] = {
        "lwa_client_id": lwa_client_id,
        SECRET_FIELD: lwa_client_secret.ciphertext,
        "lwa_token_url": lwa_token_url,
        "alexa_api_base": alexa_api_base,
        "scopes": list(scopes),
        "skill_id": skill_id,
        "skill_stage": skill_stage,
        "lwa_authorize_url": lwa_authorize_url,
        "updated_at": now,
    }
    if not replace:
        try:
            await db[COLLECTION].insert_one({"_id": partner_id, **fields, "created_at": now})
        except DuplicateKeyError:
            raise PartnerExists(partner_id) from None
        doc = await db[COLLECTION].find_one({"_id": partner_id})
    else:
        doc = await db[COLLECTION].find_one_and_update(
            {"_id": partner_id},
            {"$set": fields, "$setOnInsert": {"created_at": now}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
    assert doc is not None
    return _from_doc(doc)


async def get(db: Database, partner_id: str) -> Partner | None:
    doc = await db[COLLECTION].find_one({"_id": partner_id})
    return None if doc is None else _from_doc(doc)


async def list_all(db: Database) -> list[Partner]:
    return [_from_doc(doc) async for doc in db[COLLECTION].find({}).sort("_id", 1)]


def _search_query(prefix: str) -> dict[str, Any]:
    """Partners whose id or LWA client id starts with `prefix`, in any case (an anchored
    regex: there are a few partners, not thousands)."""
    q = prefix.strip()
    if not q:
        return {}
    start = {"$regex": "^" + re.escape(q), "$options": "i"}
    return {"$or": [{"_id": start}, {"lwa_client_id": start}]}


async def page(db: Database, prefix: str, *, skip: int, limit: int) -> list[Partner]:
    cursor = db[COLLECTION].find(_search_query(prefix)).sort("_id", 1).skip(skip).limit(limit)
    return [_from_doc(doc) async for doc in cursor]


async def count(db: Database, prefix: str = "") -> int:
    return await db[COLLECTION].count_documents(_search_query(prefix))


async def delete(db: Database, partner_id: str) -> bool:
    result = await db[COLLECTION].delete_one({"_id": partner_id})
    return result.deleted_count == 1


async def sealed_fields(db: Database) -> AsyncIterator[SealedField]:
    """Every stored LWA client secret, for re-encryption under a new key."""
    async for doc in db[COLLECTION].find({}, {SECRET_FIELD: 1}):
        value = doc.get(SECRET_FIELD)
        if isinstance(value, str):
            partner_id = str(doc["_id"])
            sealed = Sealed(value, secret_context(partner_id))
            yield SealedField(COLLECTION, partner_id, SECRET_FIELD, sealed)
