"""Partner administration: validated creation and change (the LWA client secret sealed here),
removal, listings, and a description that never holds the secret. Every change is audited."""

from __future__ import annotations

import re
from typing import Any, Final

from service.amazon import regions
from service.clock import utcnow
from service.crypto import KeyRing
from service.db import Database
from service.linking.sealing import open_sealed, seal_client_secret
from service.models.linking import Partner
from service.storage import audit, partner_tokens, refresh_leases
from service.storage import clients as client_store
from service.storage import partners as store
from service.storage.partners import PartnerExists as PartnerExists  # re-exported for callers

PARTNER_ID_RE: Final = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
DEFAULT_SCOPES: Final = ("alexa::health:profile:write",)


class PartnerConfigError(ValueError):
    """A partner setting is invalid; the message names it (never a secret's value)."""


async def add_partner(
    db: Database,
    keyring: KeyRing,
    *,
    partner_id: str,
    lwa_client_id: str,
    lwa_client_secret: str | None,
    lwa_token_url: str | None = None,
    alexa_api_base: str | None = None,
    region: str | None = None,
    scopes: tuple[str, ...] = DEFAULT_SCOPES,
    replace: bool = False,
    actor: str = "cli",
) -> Partner:
    """`region` (NA/EU/FE) sets both hosts; `lwa_token_url`/`alexa_api_base` (a region name or
    any URL) override either. With `replace`, an empty `lwa_client_secret` keeps the stored one.
    `PartnerConfigError` or `PartnerExists` when refused."""
    if not PARTNER_ID_RE.fullmatch(partner_id):
        raise PartnerConfigError("partner id must be 1-128 of A-Z a-z 0-9 . _ : @ -")
    if not lwa_client_id.strip():
        raise PartnerConfigError("the LWA client id is required")
    if not lwa_client_secret and replace:
        existing = await store.get(db, partner_id)
        if existing is not None:
            lwa_client_secret = open_sealed(
                existing.lwa_client_secret, keyring, "LWA client secret"
            )
    if not lwa_client_secret or lwa_client_secret != lwa_client_secret.strip():
        raise PartnerConfigError("the LWA client secret is empty or has surrounding blanks")
    try:
        token_url = regions.lwa_token_url(lwa_token_url or region)
        api_base = regions.alexa_api_base(alexa_api_base or region)
    except regions.RegionError as exc:
        raise PartnerConfigError(str(exc)) from None
    partner = await store.save(
        db,
        partner_id=partner_id,
        lwa_client_id=lwa_client_id.strip(),
        lwa_client_secret=seal_client_secret(keyring, lwa_client_secret, partner_id=partner_id),
        lwa_token_url=token_url,
        alexa_api_base=api_base,
        scopes=tuple(s for s in scopes if s),
        now=utcnow(),
        replace=replace,
    )
    await audit.record(db, "partner_saved", actor=actor, partner_id=partner_id, replaced=replace)
    return partner


async def remove_partner(db: Database, partner_id: str, *, actor: str = "cli") -> tuple[bool, int]:
    """Delete a partner and every user's LWA tokens for it (useless without its credentials)."""
    removed = await store.delete(db, partner_id)
    links = await partner_tokens.delete_for_partner(db, partner_id)
    await refresh_leases.delete_for(db, partner_id=partner_id)
    if removed or links:
        await audit.record(
            db, "partner_removed", actor=actor, partner_id=partner_id, links_deleted=links
        )
    return removed, links


async def get_partner(db: Database, partner_id: str) -> Partner | None:
    return await store.get(db, partner_id)


async def list_partners(db: Database) -> list[dict[str, Any]]:
    """Every partner as `describe` shows it, with `has_client`: Alexa's reciprocal and
    AcceptGrant calls find the partner through the client their token was issued to, so a
    partner id without such a client is never reached."""
    client_ids = {c.client_id for c in await client_store.list_all(db)}
    return [
        {**describe(p), "has_client": p.partner_id in client_ids} for p in await store.list_all(db)
    ]


async def show_partner(db: Database, partner_id: str) -> dict[str, Any] | None:
    """One partner and how many links it has per status."""
    partner = await store.get(db, partner_id)
    if partner is None:
        return None
    return {**describe(partner), "links": await partner_tokens.count_by_status(db, partner_id)}


def describe(partner: Partner) -> dict[str, Any]:
    """What admins may see: everything but the secret, which is only said to be set."""
    return {
        "partner_id": partner.partner_id,
        "lwa_client_id": partner.lwa_client_id,
        "lwa_client_secret": "(set, encrypted)",
        "lwa_token_url": partner.lwa_token_url,
        "lwa_region": regions.region_of(partner.lwa_token_url, regions.LWA_TOKEN_URLS),
        "alexa_api_base": partner.alexa_api_base,
        "alexa_region": regions.region_of(partner.alexa_api_base, regions.ALEXA_API_BASES),
        "scopes": list(partner.scopes),
        "created_at": partner.created_at.isoformat(),
        "updated_at": partner.updated_at.isoformat(),
    }
