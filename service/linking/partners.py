"""Partner administration: validated creation and change (the LWA client secret sealed here),
removal, listings, and a description that never holds the secret. Every change is audited.

A partner's LWA token URL and Alexa API base must be Amazon's unless the operator allows others
(`service.amazon.regions`); that is checked here when they are set, and again by
`require_callable` before each use, so a partner stored before the rule (or while other URLs
were allowed) is not called. Changing either URL needs the LWA client secret entered again: the
secret is sent to the LWA token URL, so whoever moves the URL must already know it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import urlsplit

from service.amazon import regions
from service.clock import utcnow
from service.crypto import KeyRing
from service.db import Database
from service.linking.errors import PartnerMisconfigured
from service.linking.sealing import open_sealed, seal_client_secret
from service.models.linking import SKILL_STAGES, Partner, SkillStage
from service.models.oauth import PARTNER_ID_PATTERN
from service.storage import audit, partner_tokens, refresh_leases, skill_enablements
from service.storage import clients as client_store
from service.storage import partners as store
from service.storage.partners import PartnerExists as PartnerExists  # re-exported for callers

log = logging.getLogger(__name__)

PARTNER_ID_RE: Final = re.compile(PARTNER_ID_PATTERN)
DEFAULT_SCOPES: Final = ("alexa::health:profile:write",)
# A skill id as the developer console shows it (`amzn1.ask.skill.` and a UUID).
SKILL_ID_RE: Final = re.compile(r"amzn1\.ask\.skill\.[A-Za-z0-9-]{1,100}")


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
    allow_custom_urls: bool = False,
    skill_id: str | None = None,
    skill_stage: str | None = None,
    lwa_authorize_url: str | None = None,
) -> Partner:
    """`region` (NA/EU/FE) sets both hosts (and LWA's authorization page);
    `lwa_token_url`/`alexa_api_base` (a region name or a URL: Amazon's, or any other with
    `allow_custom_urls`, ALS_ALLOW_CUSTOM_AMAZON_URLS) override either. With `replace`, an
    empty `lwa_client_secret` keeps the stored one, unless a URL changes. `skill_id` and
    `skill_stage` (with `lwa_authorize_url`, a region or URL) set up linking from our side
    (`service.linking.app_to_app`); without a skill id none of them is kept.
    `PartnerConfigError` or `PartnerExists` when refused."""
    if not PARTNER_ID_RE.fullmatch(partner_id):
        raise PartnerConfigError("partner id must be 1-128 of A-Z a-z 0-9 . _ : @ -")
    if not lwa_client_id.strip():
        raise PartnerConfigError("the LWA client id is required")
    try:
        token_url = regions.lwa_token_url(lwa_token_url or region, allow_custom=allow_custom_urls)
        api_base = regions.alexa_api_base(alexa_api_base or region, allow_custom=allow_custom_urls)
    except regions.RegionError as exc:
        raise PartnerConfigError(str(exc)) from None
    skill = _skill_settings(
        skill_id, skill_stage, lwa_authorize_url or region, allow_custom=allow_custom_urls
    )
    if not lwa_client_secret and replace:
        existing = await store.get(db, partner_id)
        if existing is not None:
            if (existing.lwa_token_url, existing.alexa_api_base) != (token_url, api_base):
                raise PartnerConfigError(
                    "changing the LWA token URL or the Alexa API base needs the LWA client "
                    "secret entered again"
                )
            lwa_client_secret = open_sealed(
                existing.lwa_client_secret, keyring, "LWA client secret"
            )
    if not lwa_client_secret or lwa_client_secret != lwa_client_secret.strip():
        raise PartnerConfigError("the LWA client secret is empty or has surrounding blanks")
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
        skill_id=skill[0],
        skill_stage=skill[1],
        lwa_authorize_url=skill[2],
    )
    await audit.record(db, "partner_saved", actor=actor, partner_id=partner_id, replaced=replace)
    return partner


def _skill_settings(
    skill_id: str | None, stage: str | None, authorize: str | None, *, allow_custom: bool
) -> tuple[str | None, SkillStage | None, str | None]:
    """The skill id, stage and LWA authorization URL to store (all None without a skill id)."""
    skill_id = (skill_id or "").strip()
    stage = (stage or "").strip()
    if not skill_id:
        if stage:
            raise PartnerConfigError("a skill stage needs the skill id")
        return None, None, None
    if not SKILL_ID_RE.fullmatch(skill_id):
        raise PartnerConfigError("the skill id must look like amzn1.ask.skill.<id>")
    stages: dict[str, SkillStage] = {value: value for value in SKILL_STAGES}
    known = stages.get(stage)
    if known is None:
        raise PartnerConfigError("the skill stage must be development or live")
    try:
        url = regions.lwa_authorize_url(authorize, allow_custom=allow_custom)
    except regions.RegionError as exc:
        raise PartnerConfigError(str(exc)) from None
    return skill_id, known, url


async def remove_partner(db: Database, partner_id: str, *, actor: str = "cli") -> tuple[bool, int]:
    """Delete a partner and every user's LWA tokens for it (useless without its credentials),
    the Amazon tokens of links made from our side included."""
    removed = await store.delete(db, partner_id)
    links = await partner_tokens.delete_for_partner(db, partner_id)
    await skill_enablements.delete_for_partner(db, partner_id)
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
        "skill_id": partner.skill_id,
        "skill_stage": partner.skill_stage,
        "lwa_authorize_url": partner.lwa_authorize_url,
        "created_at": partner.created_at.isoformat(),
        "updated_at": partner.updated_at.isoformat(),
    }


def require_callable(partner: Partner, *, allow_custom: bool) -> None:
    """Before anything is sent with the partner's credentials or its users' tokens: both of its
    URLs must still be ones we may call (`service.amazon.regions`); `PartnerMisconfigured`,
    logged, when one is not."""
    _require(
        partner.partner_id,
        "LWA token URL",
        partner.lwa_token_url,
        regions.check_lwa_token_url,
        allow_custom=allow_custom,
    )
    require_alexa_base(partner.partner_id, partner.alexa_api_base, allow_custom=allow_custom)


def refused_urls(partner: Partner, *, allow_custom: bool) -> list[str]:
    """Which of the partner's stored Amazon URLs we may no longer call (stored by an older
    version, or before ALS_ALLOW_CUSTOM_AMAZON_URLS was turned off): what the admin must
    correct before a customer meets `PartnerMisconfigured`."""
    checks: list[tuple[str, str | None, Callable[..., str]]] = [
        ("LWA token URL", partner.lwa_token_url, regions.check_lwa_token_url),
        ("Alexa API base", partner.alexa_api_base, regions.check_alexa_api_base),
        ("LWA authorization URL", partner.lwa_authorize_url, regions.check_lwa_authorize_url),
    ]
    refused = []
    for what, url, check in checks:
        if url is None:
            continue
        try:
            check(url, allow_custom=allow_custom)
        except regions.RegionError:
            refused.append(what)
    return refused


def require_alexa_base(partner_id: str, api_base: str, *, allow_custom: bool) -> None:
    """The Alexa API base a link was made with (stored with the link) before sending to it."""
    _require(
        partner_id,
        "Alexa API base",
        api_base,
        regions.check_alexa_api_base,
        allow_custom=allow_custom,
    )


def _require(
    partner_id: str,
    what: str,
    url: str,
    check: Callable[..., str],
    *,
    allow_custom: bool,
) -> None:
    try:
        check(url, allow_custom=allow_custom)
    except regions.RegionError as exc:
        try:
            host = urlsplit(url).hostname  # never the whole URL: it might carry a password
        except ValueError:
            host = None
        log.error(
            "partner %s not called: its %s (host %s) is refused: %s", partner_id, what, host, exc
        )
        raise PartnerMisconfigured(
            f"partner {partner_id}'s {what} is not one we may call ({exc}); an administrator "
            "must correct the partner (partners add --replace, or the admin page)",
            partner_id=partner_id,
        ) from None
