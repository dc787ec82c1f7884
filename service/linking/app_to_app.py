"""Linking that starts on our side: Alexa app-to-app account linking (docs/alexa-protocols.md
§5; README "Link with Alexa"), from our account page or from the developer's mobile app.

1. `start` (account page only): the URL of LWA's consent page for the partner's LWA client,
   with `scope=alexa::skills:account_linking`, `response_type=code`, a PKCE S256 challenge
   (RFC 7636) and a random `state`; the web layer keeps state and verifier in the browser's
   session and checks them on the way back.
2. `complete`: Amazon's code (from our callback, or from the mobile app through the Alexa app
   or LWA) is exchanged at the partner's LWA token URL; we issue *our* authorization code for
   the user and the partner's OAuth client, bound to the same redirect URI; the Skill
   Enablement API is asked to enable the skill with it, and Alexa redeems our code at
   `/oauth/token` before it answers 201. The customer's Amazon tokens are then kept sealed
   (`storage/skill_enablements.py`) for the status and for unlinking. When anything fails,
   nothing is kept: our code is spent and any grant it made revoked.
3. `link_states`: per partner with a skill, whether the skill is enabled and linked (asked at
   Amazon, the Amazon token refreshed as needed). A link ended at Alexa (our grant revoked,
   or Amazon's 401/404) shows as not linked, and what we kept of it is dropped.
4. `unlink`: Amazon is asked to disable the skill (DELETE), our grant is revoked (with the
   unlink hooks, as on the account page), and the kept tokens are deleted.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Literal
from urllib.parse import urlencode

from service.amazon import lwa, regions
from service.amazon import skill_enablement as amazon
from service.amazon.alexa_api import AlexaUnreachable
from service.amazon.retry import RetryPolicy
from service.clock import utcnow
from service.db import Database, retry_while_unavailable
from service.linking.app_to_app_errors import (
    AlexaForbidden,
    AlexaRefusedEnablement,
    AlexaSkillNotFound,
    AmazonCodeRefused,
    AmazonTokenRevoked,
    AmazonUnreachable,
    RedirectUriNotRegistered,
    SkillNotConfigured,
)
from service.linking.deps import LinkingDeps
from service.linking.errors import PartnerMisconfigured, PartnerNotFound
from service.linking.links import STORE_SECONDS
from service.linking.partner_lwa import exchange_partner_code, refresh_partner_tokens
from service.linking.partners import require_callable
from service.linking.sealing import open_sealed
from service.models.identity import User
from service.models.linking import Partner
from service.models.oauth import AUTHORIZATION_CODE, AuthorizationCode, OAuthClient
from service.models.sealed import Sealed
from service.models.skill_enablement import SkillEnablement, Via, enablement_token_context
from service.oauth.authorize import issue_code
from service.oauth.unlink import UnlinkHooks, revoke_grant
from service.storage import audit, skill_enablements, token_grants
from service.storage import authorization_codes as code_store
from service.storage import clients as client_store
from service.storage import grants as grant_store
from service.storage import partners as partner_store

log = logging.getLogger(__name__)

SCOPE: Final = amazon.ACCOUNT_LINKING_SCOPE
# Where LWA sends the customer back to us (under the public URL): the skill's LWA security
# profile must allow it, and the partner's OAuth client must hold it as a redirect URI.
CALLBACK_PATH: Final = "/account/alexa/callback"
PENDING_SECONDS: Final = 600  # a started link must come back within this (Amazon's code: 5 min)
TOKEN_MARGIN: Final = timedelta(seconds=60)  # refresh the Amazon token this long before expiry

LinkState = Literal["linked", "not_linked", "unknown"]


@dataclass(frozen=True)
class Started:
    """A link started in the browser: where to send it, and what the callback checks."""

    url: str = field(repr=False)
    partner_id: str
    state: str = field(repr=False)
    code_verifier: str = field(repr=False)


@dataclass(frozen=True)
class SkillLink:
    """A partner with a skill, as the account page shows it to one customer."""

    partner: Partner
    name: str  # the name of the partner's OAuth client (its id when there is none)
    state: LinkState
    via: Via | None = None  # how the kept link was made


def pkce_pair() -> tuple[str, str]:
    """A PKCE verifier (43 characters of 32 random bytes) and its S256 challenge
    (RFC 7636 §4.1-4.2)."""
    verifier = secrets.token_urlsafe(32)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


async def linkable_partner(db: Database, partner_id: str) -> Partner:
    """The partner, if linking from our side is set up for it."""
    partner = await partner_store.get(db, partner_id) if partner_id else None
    if partner is None:
        raise PartnerNotFound("no partner with this id")
    if not partner.skill_id or not partner.skill_stage or not partner.lwa_authorize_url:
        raise SkillNotConfigured()
    return partner


async def start(db: Database, partner_id: str, *, redirect_uri: str, allow_custom: bool) -> Started:
    """Step 1: LWA's consent page for the partner's skill, to come back to `redirect_uri`."""
    partner = await linkable_partner(db, partner_id)
    assert partner.lwa_authorize_url is not None  # linkable_partner checked it
    try:  # checked again before use, as the other Amazon URLs are (partners.require_callable)
        authorize = regions.check_lwa_authorize_url(
            partner.lwa_authorize_url, allow_custom=allow_custom
        )
    except regions.RegionError as exc:
        log.error("partner %s: LWA authorization URL refused: %s", partner_id, exc)
        raise PartnerMisconfigured(
            "Linking with Alexa is not completely set up yet. Please try again later.",
            partner_id=partner_id,
        ) from None
    await _client_for(db, partner, redirect_uri)  # fail now rather than after Amazon's page
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(24)
    query = urlencode(
        {
            "client_id": partner.lwa_client_id,
            "scope": SCOPE,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return Started(f"{authorize}?{query}", partner.partner_id, state, verifier)


async def _client_for(db: Database, partner: Partner, redirect_uri: str) -> OAuthClient:
    """The partner's OAuth client (the client Alexa redeems our code as), with `redirect_uri`
    registered: our code is bound to it, and Alexa sends it back when redeeming."""
    client = await client_store.get(db, partner.partner_id)
    if (
        client is None
        or not client.allows_grant(AUTHORIZATION_CODE)
        or not client.check_redirect_uri(redirect_uri)
    ):
        log.error(
            "partner %s: its OAuth client is missing or lacks the redirect URI %s",
            partner.partner_id,
            redirect_uri,
        )
        raise RedirectUriNotRegistered(partner_id=partner.partner_id)
    return client


async def complete(
    deps: LinkingDeps,
    *,
    user: User,
    partner_id: str,
    amazon_code: str,
    redirect_uri: str,
    code_verifier: str | None,
    code_ttl: int,
    via: Via,
) -> SkillEnablement:
    """Step 2: exchange Amazon's code, issue ours, have Amazon enable and link the skill,
    keep the Amazon tokens. Raises an `AppToAppError` (or a partner error) and keeps nothing
    when any step fails."""
    partner = await linkable_partner(deps.db, partner_id)
    require_callable(partner, allow_custom=deps.allow_custom_amazon_urls)
    client = await _client_for(deps.db, partner, redirect_uri)
    tokens = await _exchange(deps, partner, user, amazon_code, redirect_uri, code_verifier, via)
    our_code, code = await issue_code(
        deps.db,
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        user=user,
        scopes=client.scopes,
        code_ttl=code_ttl,
    )
    assert partner.skill_id is not None and partner.skill_stage is not None
    try:
        answer = await amazon.enable(
            deps.http,
            api_base=partner.alexa_api_base,
            skill_id=partner.skill_id,
            token=tokens.access_token,
            stage=partner.skill_stage,
            redirect_uri=redirect_uri,
            auth_code=our_code,
            timeout=deps.alexa_timeout,
        )
    except AlexaUnreachable:
        await _undo(deps, code, user, partner, via, "alexa_unreachable")
        raise AmazonUnreachable() from None
    if answer.status not in (200, 201):
        await _undo(deps, code, user, partner, via, f"alexa_{answer.status}", answer.message)
        raise _refusal(answer.status)
    now = deps.clock()
    enablement = SkillEnablement(
        user_id=user.id,
        partner_id=partner.partner_id,
        skill_id=partner.skill_id,
        stage=partner.skill_stage,
        alexa_api_base=partner.alexa_api_base,
        access_token=_seal(deps, user.id, partner.partner_id, "access", tokens.access_token),
        refresh_token=None
        if tokens.refresh_token is None
        else _seal(deps, user.id, partner.partner_id, "refresh", tokens.refresh_token),
        expires_at=now + timedelta(seconds=tokens.expires_in),
        grant_id=code.grant_id,
        via=via,
        linked_at=now,
        updated_at=now,
    )
    # Amazon has linked the skill and our code is spent: what it gave us cannot be asked for
    # again, so storing it outlasts a database that stalls for a moment (as for LWA's tokens).
    await retry_while_unavailable(
        lambda: skill_enablements.save(deps.db, enablement),
        deadline=time.monotonic() + STORE_SECONDS,
        what=f"storing the Alexa link of user {user.id} with partner {partner.partner_id}",
    )
    # The customer asked for this link themselves: their consent, as the consent page records
    # it, so the account page lists the app and a later unlink forgets it.
    await grant_store.remember(
        deps.db,
        user_id=user.id,
        username=user.username,
        client_id=client.client_id,
        scopes=client.scopes,
    )
    await audit.record(
        deps.db,
        "alexa_app_to_app_link",
        actor=user.id,
        user_id=user.id,
        partner_id=partner.partner_id,
        client_id=client.client_id,
        via=via,
        stage=partner.skill_stage,
    )
    log.info("user %s enabled and linked the skill of partner %s (%s)", user.id, partner_id, via)
    return enablement


async def _exchange(
    deps: LinkingDeps,
    partner: Partner,
    user: User,
    amazon_code: str,
    redirect_uri: str,
    code_verifier: str | None,
    via: Via,
) -> lwa.LwaTokens:
    try:
        return await exchange_partner_code(
            deps, partner, amazon_code, redirect_uri=redirect_uri, code_verifier=code_verifier
        )
    except lwa.LwaError as exc:
        await _failed(deps.db, user, partner, via, f"lwa_{exc.error}")
        raise AmazonCodeRefused(lwa_error=exc.error) from None
    except lwa.LwaUnavailable:
        await _failed(deps.db, user, partner, via, "lwa_unavailable")
        raise AmazonUnreachable() from None


def _refusal(status: int) -> AppToAppRefusal:
    if status == 401:
        return AmazonTokenRevoked(alexa_status=status)
    if status == 403:
        return AlexaForbidden(alexa_status=status)
    if status == 404:
        return AlexaSkillNotFound(alexa_status=status)
    return AlexaRefusedEnablement(alexa_status=status)


AppToAppRefusal = AmazonTokenRevoked | AlexaForbidden | AlexaSkillNotFound | AlexaRefusedEnablement


async def _undo(
    deps: LinkingDeps,
    code: AuthorizationCode,
    user: User,
    partner: Partner,
    via: Via,
    reason: str,
    message: str | None = None,
) -> None:
    """The enablement failed: our code must not produce tokens later, and tokens it produced
    already (Alexa redeemed it, then failed) must stop working."""
    now = utcnow()
    await code_store.mark_answered(deps.db, code, now)  # spent: a later use is a replay
    await token_grants.revoke(deps.db, code.grant_id, now)
    await _failed(deps.db, user, partner, via, reason, message)


async def _failed(
    db: Database,
    user: User,
    partner: Partner,
    via: Via,
    reason: str,
    message: str | None = None,
) -> None:
    log.warning(
        "linking user %s with partner %s from our side failed: %s",
        user.id,
        partner.partner_id,
        reason,
    )
    details = {"alexa_message": message} if message else {}
    await audit.record(
        db,
        "alexa_app_to_app_link_failed",
        actor=user.id,
        user_id=user.id,
        partner_id=partner.partner_id,
        via=via,
        reason=reason,
        **details,
    )


def _seal(
    deps: LinkingDeps, user_id: str, partner_id: str, kind: Literal["access", "refresh"], value: str
) -> Sealed:
    return Sealed.seal(
        deps.keyring, value, context=enablement_token_context(user_id, partner_id, kind)
    )


class _Gone(Exception):
    """Amazon no longer accepts the kept tokens: the link was ended at Alexa."""


async def _amazon_token(deps: LinkingDeps, partner: Partner, kept: SkillEnablement) -> str:
    """The kept Amazon access token, refreshed at LWA when it is (nearly) expired. `_Gone`
    when LWA refuses the refresh token; `lwa.LwaUnavailable` when LWA does not answer."""
    if kept.expires_at - TOKEN_MARGIN > deps.clock():
        return open_sealed(kept.access_token, deps.keyring, "Amazon access token")
    if kept.refresh_token is None:
        raise _Gone()
    try:
        tokens = await refresh_partner_tokens(
            deps,
            partner,
            open_sealed(kept.refresh_token, deps.keyring, "Amazon refresh token"),
        )
    except lwa.LwaError as exc:
        if exc.error == "invalid_grant":
            raise _Gone() from None
        raise lwa.LwaUnavailable(f"LWA refused the refresh ({exc.error})") from None
    now = deps.clock()
    refresh = (
        _seal(deps, kept.user_id, kept.partner_id, "refresh", tokens.refresh_token)
        if tokens.refresh_token is not None
        else (kept.refresh_token.resealed(deps.keyring))
    )
    await skill_enablements.replace_tokens(
        deps.db,
        kept,
        access_token=_seal(deps, kept.user_id, kept.partner_id, "access", tokens.access_token),
        refresh_token=refresh,
        expires_at=now + timedelta(seconds=tokens.expires_in),
        now=now,
    )
    return tokens.access_token


async def link_states(deps: LinkingDeps, user_id: str) -> list[SkillLink]:
    """Every partner with a skill, with the state of this customer's link made from our side."""
    partners = [p for p in await partner_store.list_all(deps.db) if p.skill_id]
    if not partners:
        return []
    names = await client_store.names(deps.db)
    kept = {e.partner_id: e for e in await skill_enablements.list_for_user(deps.db, user_id)}
    # A page waits for these: every partner is asked at once, each once (no retries), so a
    # stalled Amazon costs one LWA and one Alexa timeout, and the state says "unknown".
    page_deps = dataclasses.replace(deps, retry=RetryPolicy(attempts=1))
    states = await asyncio.gather(
        *(_state(page_deps, p, kept[p.partner_id]) for p in partners if p.partner_id in kept)
    )
    known = dict(zip((p.partner_id for p in partners if p.partner_id in kept), states, strict=True))
    rows = []
    for partner in partners:
        name = names.get(partner.partner_id, partner.partner_id)
        state = known.get(partner.partner_id, "not_linked")
        via = kept[partner.partner_id].via if state == "linked" else None
        rows.append(SkillLink(partner, name, state, via))
    return rows


# Why Amazon could not be asked about a kept link (it may still be linked there).
_NOT_ASKED = (
    PartnerMisconfigured,
    regions.RegionError,
    lwa.LwaUnavailable,
    AlexaUnreachable,
)


async def _ask_amazon(
    deps: LinkingDeps,
    partner: Partner,
    kept: SkillEnablement,
    method: Literal["GET", "DELETE"],
) -> amazon.EnablementAnswer:
    """`amazon.ask` (GET: the status; DELETE: disable the skill) for a kept link, its URLs
    checked again and its Amazon token refreshed as needed. Raises `_Gone` or one of
    `_NOT_ASKED`."""
    require_callable(partner, allow_custom=deps.allow_custom_amazon_urls)
    api_base = regions.check_alexa_api_base(
        kept.alexa_api_base, allow_custom=deps.allow_custom_amazon_urls
    )
    token = await _amazon_token(deps, partner, kept)
    return await amazon.ask(
        deps.http,
        method,
        api_base=api_base,
        skill_id=kept.skill_id,
        token=token,
        timeout=deps.alexa_timeout,
        retry=deps.retry,
        clock=deps.clock,
    )


async def _state(deps: LinkingDeps, partner: Partner, kept: SkillEnablement) -> LinkState:
    grant = await token_grants.get(deps.db, kept.grant_id)
    if grant is None or not grant.active:  # unlinked here, or by Alexa revoking our tokens
        await _forget(deps.db, kept, "our_grant_revoked")
        return "not_linked"
    try:
        answer = await _ask_amazon(deps, partner, kept, "GET")
    except _Gone:
        await _forget(deps.db, kept, "amazon_token_revoked")
        return "not_linked"
    except _NOT_ASKED:
        return "unknown"
    if answer.status in (401, 404) or (answer.status == 200 and not answer.enabled):
        await _forget(deps.db, kept, f"alexa_{answer.status}")  # disabled or unlinked at Alexa
        return "not_linked"
    if answer.status == 200:
        return "linked" if answer.linked else "not_linked"
    return "unknown"


async def _forget(db: Database, kept: SkillEnablement, reason: str) -> None:
    if await skill_enablements.delete(db, kept.user_id, kept.partner_id):
        await audit.record(
            db,
            "alexa_app_to_app_ended",
            actor="alexa",
            user_id=kept.user_id,
            partner_id=kept.partner_id,
            reason=reason,
        )


async def unlink(
    deps: LinkingDeps, hooks: UnlinkHooks, *, user_id: str, partner_id: str, actor: str
) -> bool:
    """Step 4: disable the skill at Amazon and end our side. True when Amazon confirmed (or
    had nothing to disable); False when it could not be told (our side is ended anyway: Alexa's
    tokens no longer work, and the customer can disable the skill in the Alexa app)."""
    kept = await skill_enablements.get(deps.db, user_id, partner_id)
    partner = await partner_store.get(deps.db, partner_id)
    told = kept is None
    if kept is not None and partner is not None:
        told = await _disable(deps, partner, kept)
    await revoke_grant(deps.db, hooks, user_id=user_id, client_id=partner_id, actor=actor)
    if kept is not None:
        await skill_enablements.delete(deps.db, user_id, partner_id)
    await audit.record(
        deps.db,
        "alexa_app_to_app_unlink",
        actor=actor,
        user_id=user_id,
        partner_id=partner_id,
        amazon_told=told,
    )
    return told


async def _disable(deps: LinkingDeps, partner: Partner, kept: SkillEnablement) -> bool:
    try:
        answer = await _ask_amazon(deps, partner, kept, "DELETE")
    except _Gone:
        return True  # Amazon revoked the tokens: the skill was disabled there already
    except _NOT_ASKED:
        return False
    log.info(
        "skill of partner %s disabled for user %s: %d",
        partner.partner_id,
        kept.user_id,
        answer.status,
    )
    return answer.status in (200, 204, 401, 404)


def pending_expired(started_at: float, now: datetime) -> bool:
    """A link started at `started_at` (epoch seconds) is too old to complete."""
    return now.timestamp() - started_at > PENDING_SECONDS
