"""`skill_enablements` collection: the links made from our side (Alexa app-to-app account
linking, docs/alexa-protocols.md §5), one document per (user, partner), `_id` =
``"<partner> <user>"``. The customer's Amazon tokens arrive sealed by the domain
(`service.linking.app_to_app`); storage never sees them in clear.

Writes replace the whole document (a link made again replaces the earlier one); a refreshed
token is written only over the token it replaces (`replace_tokens`), so a refresh that lost a
race to an unlink or a new link changes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Final

from service.db import Database
from service.models.oauth import TokenKind
from service.models.sealed import Sealed, SealedField
from service.models.skill_enablement import SkillEnablement, enablement_token_context

COLLECTION: Final = "skill_enablements"
FIELDS: Final[dict[TokenKind, str]] = {
    "access": "access_token_enc",
    "refresh": "refresh_token_enc",
}


async def ensure_indexes(db: Database) -> None:
    await db[COLLECTION].create_index([("user_id", 1)])
    await db[COLLECTION].create_index([("partner_id", 1)])


def _doc_id(user_id: str, partner_id: str) -> str:
    # Partner ids have no blanks (linking/partners.py): unambiguous.
    return f"{partner_id} {user_id}"


def _sealed(doc: dict[str, Any], kind: TokenKind) -> Sealed | None:
    value = doc.get(FIELDS[kind])
    if not isinstance(value, str):
        return None
    return Sealed(value, enablement_token_context(doc["user_id"], doc["partner_id"], kind))


def _from_doc(doc: dict[str, Any]) -> SkillEnablement:
    access = _sealed(doc, "access")
    assert access is not None  # written with every document
    return SkillEnablement(
        user_id=doc["user_id"],
        partner_id=doc["partner_id"],
        skill_id=doc["skill_id"],
        stage=doc["stage"],
        alexa_api_base=doc["alexa_api_base"],
        access_token=access,
        refresh_token=_sealed(doc, "refresh"),
        expires_at=doc["expires_at"],
        grant_id=doc["grant_id"],
        via=doc["via"],
        linked_at=doc["linked_at"],
        updated_at=doc["updated_at"],
    )


async def save(db: Database, enablement: SkillEnablement) -> None:
    """Make `enablement` the user's link with the partner (replacing an earlier one)."""
    refresh = enablement.refresh_token
    doc = {
        "user_id": enablement.user_id,
        "partner_id": enablement.partner_id,
        "skill_id": enablement.skill_id,
        "stage": enablement.stage,
        "alexa_api_base": enablement.alexa_api_base,
        FIELDS["access"]: enablement.access_token.ciphertext,
        FIELDS["refresh"]: None if refresh is None else refresh.ciphertext,
        "expires_at": enablement.expires_at,
        "grant_id": enablement.grant_id,
        "via": enablement.via,
        "linked_at": enablement.linked_at,
        "updated_at": enablement.updated_at,
    }
    _id = _doc_id(enablement.user_id, enablement.partner_id)
    await db[COLLECTION].replace_one({"_id": _id}, doc, upsert=True)


async def get(db: Database, user_id: str, partner_id: str) -> SkillEnablement | None:
    doc = await db[COLLECTION].find_one({"_id": _doc_id(user_id, partner_id)})
    return None if doc is None else _from_doc(doc)


async def list_for_user(db: Database, user_id: str) -> list[SkillEnablement]:
    return [_from_doc(doc) async for doc in db[COLLECTION].find({"user_id": user_id})]


async def replace_tokens(
    db: Database,
    enablement: SkillEnablement,
    *,
    access_token: Sealed,
    refresh_token: Sealed | None,
    expires_at: datetime,
    now: datetime,
) -> bool:
    """Store refreshed tokens, only over the access token `enablement` holds (False when the
    link was ended or made again meanwhile)."""
    refresh = refresh_token.ciphertext if refresh_token is not None else None
    result = await db[COLLECTION].update_one(
        {
            "_id": _doc_id(enablement.user_id, enablement.partner_id),
            FIELDS["access"]: enablement.access_token.ciphertext,
        },
        {
            "$set": {
                FIELDS["access"]: access_token.ciphertext,
                FIELDS["refresh"]: refresh,
                "expires_at": expires_at,
                "updated_at": now,
            }
        },
    )
    return result.modified_count == 1


async def delete(db: Database, user_id: str, partner_id: str) -> bool:
    result = await db[COLLECTION].delete_one({"_id": _doc_id(user_id, partner_id)})
    return result.deleted_count == 1


async def delete_for_user(db: Database, user_id: str, *, linked_before: datetime) -> int:
    """The user's links made at or before that time (the user was disabled or deleted in
    Keycloak): their Amazon tokens are not kept for an account that ended."""
    result = await db[COLLECTION].delete_many(
        {"user_id": user_id, "linked_at": {"$lte": linked_before}}
    )
    return result.deleted_count


async def delete_for_partner(db: Database, partner_id: str) -> int:
    result = await db[COLLECTION].delete_many({"partner_id": partner_id})
    return result.deleted_count


async def sealed_fields(db: Database) -> AsyncIterator[SealedField]:
    """Every stored Amazon token of this flow, for re-encryption under a new key."""
    projection = {"user_id": 1, "partner_id": 1, **{f: 1 for f in FIELDS.values()}}
    async for doc in db[COLLECTION].find({}, projection):
        for kind, name in FIELDS.items():
            value = doc.get(name)
            if isinstance(value, str):
                context = enablement_token_context(doc["user_id"], doc["partner_id"], kind)
                yield SealedField(COLLECTION, str(doc["_id"]), name, Sealed(value, context))
