"""Creating and ending links: the LWA code exchange behind the reciprocal endpoint and
AcceptGrant (docs/alexa-protocols.md §2.2-2.3, §4.3), and unlinking (docs/flows.md flow 6).

The exchange happens while Alexa waits, so it runs under the LWA timeout from the settings;
nothing is stored unless LWA answered with tokens. What LWA answered cannot be asked for again
(the code is spent), so its write outlasts a short database stall (`_store_exchanged`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo.errors import PyMongoError

from service import metrics_registry
from service.amazon import lwa
from service.clock import utcnow
from service.db import Database, retry_while_unavailable, unavailable
from service.errors import Unavailable
from service.linking.deps import LinkingDeps
from service.linking.errors import LwaUnreachable, NotThePartnersClient
from service.linking.partner_lwa import exchange_partner_code
from service.linking.partners import require_callable
from service.linking.sealing import seal_token
from service.linking.tokens import refresh_at_for
from service.models.linking import LinkStatus, Partner, PartnerLink
from service.models.oauth import AccessContext
from service.oauth.errors import InvalidGrant, InvalidRequest, InvalidToken, UnsupportedGrantType
from service.storage import audit, partner_tokens, partners, revocations

log = logging.getLogger(__name__)

# After LWA answered, how long storing its tokens may keep trying while the database does not
# answer (Alexa's own wait for the reciprocal call is not documented: docs/alexa-protocols.md).
STORE_SECONDS = 10.0
RECIPROCAL_GRANT_TYPE = "reciprocal_authorization_code"


@dataclass(frozen=True)
class Caller:
    """Who presented our access token: the user it was issued for and the client holding it."""

    user_id: str
    username: str | None
    client_id: str
    authorized_at: datetime  # when that access token was issued
    grant_id: str | None = None  # the authorization it came from

    @classmethod
    def of(cls, access: AccessContext) -> Caller:
        """The caller an access token stands for; `InvalidToken` for a token of no user."""
        if access.user_id is None:
            raise InvalidToken("The access token does not belong to a user.")
        return cls(
            access.user_id, access.username, access.client_id, access.issued_at, access.grant_id
        )


async def reciprocal_authorize(
    deps: LinkingDeps,
    caller: Caller,
    *,
    grant_type: str | None,
    client_id: str | None,
    code: str | None,
) -> PartnerLink:
    """Validate a reciprocal authorization request, then exchange and store (§2.2)."""
    if not grant_type:
        raise InvalidRequest("grant_type is required")
    if grant_type != RECIPROCAL_GRANT_TYPE:
        raise UnsupportedGrantType(f"grant_type must be {RECIPROCAL_GRANT_TYPE}")
    if not code:
        raise InvalidRequest("code is required")
    if not client_id:
        raise InvalidRequest("client_id is required")
    partner = await partners.get(deps.db, client_id)
    if partner is None:
        raise NotThePartnersClient("client_id is not a known partner")
    # The token must have been issued to the very client that claims to be the partner, or one
    # client could plant LWA tokens under another partner for the user (Amazon's sample does
    # not check this: docs/alexa-protocols.md §2.4, SB5).
    if client_id != caller.client_id:
        raise NotThePartnersClient(
            "client_id does not match the client the access token was issued to"
        )
    return await link_account(deps, partner, caller, code=code, via="reciprocal")


async def link_account(
    deps: LinkingDeps, partner: Partner, caller: Caller, *, code: str, via: str
) -> PartnerLink:
    """Exchange an LWA code for the user's tokens and store them for (user, partner)."""
    require_callable(partner, allow_custom=deps.allow_custom_amazon_urls)
    try:
        tokens = await exchange_partner_code(deps, partner, code)
    except lwa.LwaError as exc:
        await _link_failed(deps, caller, partner, via, f"lwa_{exc.error}")
        raise InvalidGrant(f"Login with Amazon refused the code ({exc.error})") from None
    except lwa.LwaUnavailable:
        await _link_failed(deps, caller, partner, via, "lwa_unavailable")
        raise LwaUnreachable(
            "Login with Amazon could not be reached; nothing was stored, try again"
        ) from None

    link = await _store_exchanged(deps, partner, caller, tokens)
    user_id, partner_id = caller.user_id, partner.partner_id
    try:
        await audit.record(
            deps.db,
            "link",
            actor=f"client:{caller.client_id}",
            user_id=user_id,
            partner_id=partner_id,
            via=via,
            relinked=link.generation > 1,
            has_refresh_token=tokens.refresh_token is not None,
        )
    except PyMongoError as exc:  # the link is stored: that is what counts
        log.warning(
            "link of user %s with partner %s stored, its audit record not: %s",
            user_id,
            partner_id,
            type(exc).__name__,
        )
    metrics_registry.link_created(via)
    log.info("linked user %s with partner %s (%s)", user_id, partner_id, via)
    return link


async def _store_exchanged(
    deps: LinkingDeps, partner: Partner, caller: Caller, tokens: lwa.LwaTokens
) -> PartnerLink:
    """Store the tokens LWA just gave us. LWA will not give them again (the code is spent), so
    while the database does not answer the write is tried again for STORE_SECONDS; if it still
    fails, the log and the answer (503) say that the link was not made."""
    now = deps.clock()
    user_id, partner_id = caller.user_id, partner.partner_id
    access_token = seal_token(
        deps.keyring, tokens.access_token, user_id=user_id, partner_id=partner_id, kind="access"
    )
    refresh_token = None
    if tokens.refresh_token is not None:
        refresh_token = seal_token(
            deps.keyring,
            tokens.refresh_token,
            user_id=user_id,
            partner_id=partner_id,
            kind="refresh",
        )

    async def store() -> PartnerLink:
        # Safe to repeat: a try whose write landed after all is replaced by the next one.
        return await partner_tokens.store_link(
            deps.db,
            user_id=user_id,
            username=caller.username,
            partner_id=partner_id,
            access_token=access_token,
            refresh_token=refresh_token,
            expires_at=now + timedelta(seconds=tokens.expires_in),
            refresh_at=refresh_at_for(now, tokens.expires_in),
            alexa_api_base=partner.alexa_api_base,
            now=now,
        )

    async def revoked_meanwhile() -> bool:
        return await revocations.revoked_since(
            deps.db,
            user_id=user_id,
            client_id=caller.client_id,
            grant_id=caller.grant_id,
            granted_at=caller.authorized_at,
        )

    deadline = time.monotonic() + STORE_SECONDS
    what = f"storing the LWA link of user {user_id} with partner {partner_id}"
    try:
        link = await retry_while_unavailable(store, deadline=deadline, what=what)
        revoked = await retry_while_unavailable(revoked_meanwhile, deadline=deadline, what=what)
    except PyMongoError as exc:
        if not unavailable(exc):
            raise
        log.error(
            "LWA gave us the tokens of user %s for partner %s, but the database did not store "
            "them within %.0f s (%s): the link may be missing and the LWA code is spent, so "
            "the customer may have to link the skill again",
            user_id,
            partner_id,
            STORE_SECONDS,
            type(exc).__name__,
        )
        raise Unavailable(
            "Login with Amazon accepted the code, but the link could not be stored (our "
            "database did not answer); the customer may have to link the skill again"
        ) from None
    if revoked:
        # The customer unlinked the skill (or its token or client was revoked) while we were at
        # LWA, and the clean-up may have run before this store: the tokens must not outlive it.
        await partner_tokens.end_link(
            deps.db,
            user_id,
            partner_id,
            status=LinkStatus.REVOKED,
            reason="unlinked",
            now=deps.clock(),
            linked_at=link.linked_at,
        )
        raise InvalidToken("the access token was revoked while linking; nothing was kept")
    return link


async def _link_failed(
    deps: LinkingDeps, caller: Caller, partner: Partner, via: str, reason: str
) -> None:
    await audit.record(
        deps.db,
        "link_failed",
        actor=f"client:{caller.client_id}",
        user_id=caller.user_id,
        partner_id=partner.partner_id,
        via=via,
        reason=reason,
    )


async def unlink(db: Database, user_id: str, partner_id: str, *, actor: str, reason: str) -> bool:
    """Delete the user's LWA tokens for a partner; the link stays, marked revoked, for the
    record. False when there was no active link."""
    ended = await partner_tokens.end_link(
        db, user_id, partner_id, status=LinkStatus.REVOKED, reason=reason, now=utcnow()
    )
    if ended:
        metrics_registry.link_ended(reason)
        await audit.record(
            db, "unlink", actor=actor, user_id=user_id, partner_id=partner_id, reason=reason
        )
        log.info("unlinked user %s from partner %s (%s)", user_id, partner_id, reason)
    return ended


async def end_user_links(
    db: Database, user_id: str, *, linked_before: datetime, actor: str, reason: str
) -> int:
    """End every active link of the user made at or before `linked_before` (the user was
    disabled or deleted in Keycloak): their LWA tokens are deleted, the links stay, marked
    revoked. A link made later (the user enabled again, and linked again) is left alone, so
    running this twice is harmless. Returns how many links ended."""
    ended = 0
    for link in await partner_tokens.list_links(db, user_id=user_id):
        if link.status is not LinkStatus.ACTIVE or link.linked_at > linked_before:
            continue
        if await partner_tokens.end_link(
            db,
            user_id,
            link.partner_id,
            status=LinkStatus.REVOKED,
            reason=reason,
            now=utcnow(),
            linked_at=link.linked_at,
        ):
            ended += 1
            metrics_registry.link_ended(reason)
            await audit.record(
                db,
                "unlink",
                actor=actor,
                user_id=user_id,
                partner_id=link.partner_id,
                reason=reason,
            )
            log.info("unlinked user %s from partner %s (%s)", user_id, link.partner_id, reason)
    return ended


async def end_partner_link_on_unlink(db: Database, user_id: str, client_id: str) -> None:
    """The unlink hook (`service.wiring`): when a user's link with a client ends (account page,
    admin, client removal), their LWA tokens for the partner of that id go too (docs/flows.md
    flow 6). Idempotent: without an active link nothing happens."""
    await unlink(db, user_id, client_id, actor="oauth.unlink", reason="unlinked")
