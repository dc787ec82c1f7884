"""The user's LWA access token for a partner, refreshed at LWA only when needed and only once.

The stored token is served until ``refresh_at`` (5 minutes before it expires). After that the
one caller that takes the refresh lease for the token set it saw (an insert under a unique
index in Mongo, see storage/refresh_leases.py) calls LWA; every other caller, in this process
or another, polls until the new set appears, the link ends, or the lease records a failure.
A lease whose holder died expires after the LWA timeout plus a few seconds, and the next
caller takes over with the next attempt number. (docs/alexa-protocols.md §3, R23-R25.)

The holder's write of the refreshed set is tried again while the database does not answer,
until its lease ends, and the waiters keep polling through such a stall: a refresh LWA did is
not lost to it (`_store_refreshed`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Final, NoReturn, TypeVar

from pymongo.errors import PyMongoError

from service import metrics_registry
from service.amazon import lwa
from service.clock import mongo_time
from service.crypto import KeyRing
from service.db import retry_while_unavailable, unavailable
from service.linking.deps import LinkingDeps
from service.linking.errors import (
    LinkInactive,
    LinkNotFound,
    LinkRevoked,
    LwaRefused,
    LwaUnreachable,
    PartnerNotFound,
)
from service.linking.partner_lwa import refresh_partner_tokens
from service.linking.partners import require_callable
from service.linking.sealing import open_sealed, seal_token
from service.models.linking import LinkStatus, Outcome, Partner, PartnerLink, RefreshLease
from service.models.sealed import Sealed
from service.storage import audit, partner_tokens, partners, refresh_leases

log = logging.getLogger(__name__)

REFRESH_MARGIN: Final = 300.0  # seconds of lifetime left below which we refresh
# With LWA unreachable, a stored token inside the margin is still served while it has this long
# left: a caller is better off with a token good for a few minutes than with a 503.
MIN_LIFETIME_SERVED: Final = 60.0
LEASE_GRACE: Final = 5.0  # lease = LWA timeout + this: room for the Mongo writes around it
POLL_INTERVAL: Final = 0.05
STORE_MARGIN: Final = 0.5  # seconds before the lease ends when the holder stops storing
NOT_STORED: Final = (
    "The token was refreshed at Login with Amazon but could not be stored (our database did "
    "not answer); it is valid, and the next request refreshes again."
)
T = TypeVar("T")
_OWNER_PREFIX: Final = f"{socket.gethostname()}:{os.getpid()}"


def refresh_at_for(now: datetime, expires_in: int) -> datetime:
    """When a token issued `now` stops being served: REFRESH_MARGIN before expiry, or half
    way for lifetimes too short for that margin (so a short-lived token is not refreshed on
    every call)."""
    margin = min(REFRESH_MARGIN, expires_in / 2)
    return now + timedelta(seconds=expires_in - margin)


def refresh_token_to_store(keyring: KeyRing, link: PartnerLink, new: str | None) -> Sealed | None:
    """The refresh token for the set after a refresh of `link`: LWA's new one, or, when it sent
    none (LWA may or may not rotate), the stored one under the primary key, or a `rekey` that
    ran since we read it would be undone, and dropping the old key would break it."""
    if new is not None:
        return seal_token(
            keyring, new, user_id=link.user_id, partner_id=link.partner_id, kind="refresh"
        )
    return None if link.refresh_token is None else link.refresh_token.resealed(keyring)


@dataclass(frozen=True)
class PartnerAccessToken:
    token: str = field(repr=False)
    expires_at: datetime
    link: PartnerLink
    refreshed: bool = False  # this call refreshed it at LWA (rather than reading it)
    stored: bool = True  # False: refreshed, but the database did not store the new set

    def expires_in(self, now: datetime) -> int:
        return max(0, int((self.expires_at - now).total_seconds()))


def _check_active(link: PartnerLink) -> None:
    if link.status is LinkStatus.REVOKED:
        raise LinkRevoked(
            "the user's link with this partner was revoked; they must link the skill again",
            reason=link.status_reason,
        )
    if link.status is LinkStatus.INACTIVE:
        raise LinkInactive(
            "Alexa refused this link (skill disabled or permission withdrawn); the user must "
            "enable and link the skill again",
            reason=link.status_reason,
        )


async def access_token(
    deps: LinkingDeps,
    *,
    user_ref: str,
    partner_id: str,
    actor: str,
    stale_generation: int | None = None,
) -> PartnerAccessToken:
    """A usable LWA access token for (user, partner). `user_ref` is our user's id or username
    (`find_link`).

    With `stale_generation` (Alexa just answered 401 to that set's token) the set is refreshed
    even though it has not reached `refresh_at`, unless someone already replaced it. When LWA
    cannot be reached, a stored token with at least MIN_LIFETIME_SERVED left is served anyway
    (not after a 401: that token is known to be refused)."""
    partner = await partners.get(deps.db, partner_id)
    if partner is None:
        raise PartnerNotFound("no partner with this id")
    require_callable(partner, allow_custom=deps.allow_custom_amazon_urls)
    link = await find_link(deps, user_ref, partner_id)
    try:
        token = await _fresh_access_token(
            deps, partner, link, actor=actor, stale_generation=stale_generation
        )
    except LwaUnreachable:
        if stale_generation is not None:
            raise  # Alexa refused the stored token: it is no use to anyone
        fallback = await _still_valid_token(deps, link)
        if fallback is None:
            raise
        log.warning(
            "LWA unreachable: serving the stored token of user %s for partner %s (%d s left)",
            link.user_id,
            partner_id,
            fallback.expires_in(deps.clock()),
        )
        metrics_registry.partner_token_served("fallback")
        return fallback
    metrics_registry.partner_token_served(_source(token, link))
    return token


async def find_link(deps: LinkingDeps, user_ref: str, partner_id: str) -> PartnerLink:
    """The link of the user `user_ref` names: our user's Keycloak id (`sub`), else a username,
    resolved through Keycloak to the user who has it now (never matched against the name
    stored when they linked: users are renamed, names reused). While Keycloak does not answer,
    ids keep working and a username gets 503."""
    link = await partner_tokens.get(deps.db, user_ref, partner_id)
    if link is None and deps.resolve_username is not None:
        user_id = await deps.resolve_username(user_ref)
        if user_id is not None:
            link = await partner_tokens.get(deps.db, user_id, partner_id)
    if link is None:
        raise LinkNotFound("this user has not linked the partner's skill")
    return link


def _source(token: PartnerAccessToken, read: PartnerLink) -> metrics_registry.PartnerTokenSource:
    """Where `token` came from, for the metrics: the set that was `read`, a refresh at LWA by
    this call, or a set another caller (in any process) refreshed meanwhile."""
    if token.refreshed:
        return "refresh"
    return "cache" if token.link.generation == read.generation else "concurrent_refresh"


async def _still_valid_token(deps: LinkingDeps, link: PartnerLink) -> PartnerAccessToken | None:
    current = await partner_tokens.get(deps.db, link.user_id, link.partner_id)
    if (
        current is None
        or current.status is not LinkStatus.ACTIVE
        or current.access_token is None
        or current.expires_at is None
    ):
        return None
    left = (current.expires_at - deps.clock()).total_seconds()
    if left < MIN_LIFETIME_SERVED:
        return None
    return PartnerAccessToken(
        open_sealed(current.access_token, deps.keyring, "LWA access token"),
        current.expires_at,
        current,
    )


async def _fresh_access_token(
    deps: LinkingDeps,
    partner: Partner,
    link: PartnerLink,
    *,
    actor: str,
    stale_generation: int | None,
) -> PartnerAccessToken:
    partner_id = partner.partner_id
    started = mongo_time(deps.clock())
    deadline = time.monotonic() + deps.lwa_timeout + LEASE_GRACE + 1.0
    waiting = False  # for another caller's refresh
    while True:
        _check_active(link)
        now = deps.clock()
        if stale_generation is None:
            due = link.refresh_at is None or now >= link.refresh_at
        else:
            due = link.generation == stale_generation
        if not due and link.access_token is not None and link.expires_at is not None:
            return PartnerAccessToken(
                open_sealed(link.access_token, deps.keyring, "LWA access token"),
                link.expires_at,
                link,
            )
        if link.refresh_token is None:
            raise LinkRevoked("the link has no refresh token; the user must link the skill again")

        lease = await _read(
            partner_id,
            deadline if waiting else None,
            partial(refresh_leases.latest, deps.db, link.user_id, partner_id, link.generation),
        )
        now = deps.clock()
        if (
            lease is not None
            and lease.outcome not in (None, "done")
            and lease.finished_at is not None
            and lease.finished_at >= started
        ):
            # The refresh we were waiting on failed: that is our answer too, rather than every
            # waiter trying an unreachable LWA in turn.
            _raise_for(lease.outcome)
        # Free: nobody tried yet, or the last attempt failed or its holder died (expired).
        # A fresh "done" lease is not: the set moved on and we only need to re-read it. (An
        # old one on a set of the same generation is left from a deleted, re-created link.)
        done_long_ago = (
            lease is not None
            and lease.outcome == "done"
            and lease.finished_at is not None
            and now - lease.finished_at > timedelta(seconds=LEASE_GRACE)
        )
        if lease is None or done_long_ago or (lease.outcome != "done" and lease.expires_at <= now):
            mine = await refresh_leases.try_acquire(
                deps.db,
                link.user_id,
                partner_id,
                link.generation,
                attempt=0 if lease is None else lease.attempt + 1,
                owner=f"{_OWNER_PREFIX}:{uuid.uuid4().hex[:12]}",
                now=now,
                expires_at=now + timedelta(seconds=deps.lwa_timeout + LEASE_GRACE),
            )
            if mine is not None:
                result = await _refresh_holding(deps, partner, mine, actor=actor)
                if result is not None:
                    return result
        if time.monotonic() > deadline:
            raise LwaUnreachable("timed out waiting for the LWA token refresh; try again")
        await asyncio.sleep(POLL_INTERVAL)
        waiting = True
        latest = await _read(
            partner_id, deadline, partial(partner_tokens.get, deps.db, link.user_id, partner_id)
        )
        if latest is None:
            raise LinkNotFound("this user has not linked the partner's skill")
        if latest.generation != link.generation:
            stale_generation = None  # a new set (or the link ended): judge it afresh
        link = latest


async def _read(
    partner_id: str, patient_until: float | None, read: Callable[[], Awaitable[T]]
) -> T:
    """A read of the polling loop. While waiting for another caller's refresh, a database that
    does not answer is waited out until `patient_until` (the refresh's result may be landing
    as it wakes); otherwise its failure is the answer (a fast 503)."""
    if patient_until is None:
        return await read()
    what = f"waiting for the LWA refresh of a link to {partner_id}"
    return await retry_while_unavailable(read, deadline=patient_until, what=what)


def _raise_for(outcome: str) -> NoReturn:
    if outcome == "refused":
        raise LwaRefused("Login with Amazon refused the refresh")
    raise LwaUnreachable(
        "Login with Amazon could not be reached to refresh the token; the stored token was "
        "kept, try again"
    )


async def _refresh_holding(
    deps: LinkingDeps, partner: Partner, lease: RefreshLease, *, actor: str
) -> PartnerAccessToken | None:
    """We hold the lease on `lease.generation`. Re-read the set (a holder that died after
    storing could have left a lease behind), refresh at LWA and store the result. None when
    the set had already moved on: the caller then reads the new one."""
    link = await partner_tokens.get(deps.db, lease.user_id, lease.partner_id)
    if link is None or link.generation != lease.generation or link.status != LinkStatus.ACTIVE:
        await refresh_leases.finish(deps.db, lease, outcome="done", now=deps.clock())
        return None
    outcome: Outcome = "error"
    # The store may keep trying until shortly before the lease ends (then another caller may
    # take over and refresh again).
    lease_left = (lease.expires_at - deps.clock()).total_seconds() - STORE_MARGIN
    try:
        token = await _refresh(
            deps, partner, link, actor=actor, store_until=time.monotonic() + lease_left
        )
        outcome = "done"  # also when not stored: the waiters re-read the set, which may
        return token  # still get it (a stalled write lands when the database wakes)
    except LinkRevoked:
        outcome = "done"  # the set ended: waiters read that from the link itself
        raise
    except LwaRefused:
        outcome = "refused"
        raise
    except LwaUnreachable:
        outcome = "unavailable"
        raise
    finally:
        await _finish(deps, lease, outcome)


async def _finish(deps: LinkingDeps, lease: RefreshLease, outcome: Outcome) -> None:
    """Record how the refresh ended. Without a database that fails; the lease then simply
    expires, and what the caller got (a token, or its error) stands."""
    try:
        await refresh_leases.finish(deps.db, lease, outcome=outcome, now=mongo_time(deps.clock()))
        if outcome == "done":
            await refresh_leases.delete_older(
                deps.db, lease.user_id, lease.partner_id, lease.generation
            )
    except PyMongoError as exc:
        if not unavailable(exc):
            raise
        log.warning("refresh lease of user %s not closed: %s", lease.user_id, type(exc).__name__)


async def _refresh(
    deps: LinkingDeps, partner: Partner, link: PartnerLink, *, actor: str, store_until: float
) -> PartnerAccessToken:
    """Refresh `link`'s set at LWA and store the result (the caller holds the lease, which
    ends at `store_until`)."""
    assert link.refresh_token is not None
    refresh_token = open_sealed(link.refresh_token, deps.keyring, "LWA refresh token")
    try:
        tokens = await refresh_partner_tokens(deps, partner, refresh_token)
    except lwa.LwaError as exc:
        if exc.error == "invalid_grant":
            # The user removed the permission at Amazon (or LWA dropped the grant): the tokens
            # are dead; delete them so nobody keeps trying (docs/alexa-protocols.md R25).
            ended = await partner_tokens.end_link(
                deps.db,
                link.user_id,
                link.partner_id,
                status=LinkStatus.REVOKED,
                reason="lwa_invalid_grant",
                now=deps.clock(),
                generation=link.generation,
            )
            if ended:
                metrics_registry.link_ended("lwa_invalid_grant")
            await _refresh_failed(deps, link, actor, "lwa_invalid_grant", outcome="link_revoked")
            log.warning(
                "LWA refused the refresh token of user %s for partner %s: link revoked",
                link.user_id,
                link.partner_id,
            )
            raise LinkRevoked(
                "Login with Amazon no longer accepts this link's refresh token; the link was "
                "revoked and its tokens deleted. The user must link the skill again",
                reason="lwa_invalid_grant",
            ) from None
        await _refresh_failed(deps, link, actor, f"lwa_{exc.error}")
        log.error("LWA refused a refresh for partner %s: %s", link.partner_id, exc.error)
        raise LwaRefused(f"Login with Amazon refused the refresh ({exc.error})") from None
    except lwa.LwaUnavailable:
        await _refresh_failed(deps, link, actor, "lwa_unavailable")
        raise LwaUnreachable(
            "Login with Amazon could not be reached to refresh the token; the stored token was "
            "kept, try again"
        ) from None

    return await _store_refreshed(deps, link, tokens, store_until=store_until)


async def _store_refreshed(
    deps: LinkingDeps, link: PartnerLink, tokens: lwa.LwaTokens, *, store_until: float
) -> PartnerAccessToken:
    """Store the set LWA just refreshed as the successor of `link`. While the database does
    not answer, the write is tried again until `store_until` (the end of our lease): the
    callers waiting on the lease then read it. If it still fails, the fresh token is served
    anyway (it is valid), the answer says it was not stored, and the log says what that risks."""
    now = deps.clock()
    expires_at = now + timedelta(seconds=tokens.expires_in)
    access = seal_token(
        deps.keyring,
        tokens.access_token,
        user_id=link.user_id,
        partner_id=link.partner_id,
        kind="access",
    )

    async def write() -> PartnerLink | None:
        """The stored set after our write: ours, a newer one (re-linked or ended meanwhile),
        or None (deleted). Safe to repeat: a try whose insert landed after all is found as
        ours by the next one."""
        if not await partner_tokens.complete_refresh(
            deps.db,
            link,
            access_token=access,
            refresh_token=refresh_token_to_store(deps.keyring, link, tokens.refresh_token),
            expires_at=expires_at,
            refresh_at=refresh_at_for(now, tokens.expires_in),
            now=now,
        ):
            return await partner_tokens.get(deps.db, link.user_id, link.partner_id)
        return await partner_tokens.get(deps.db, link.user_id, link.partner_id) or link

    what = f"storing the refreshed LWA tokens of user {link.user_id} for {link.partner_id}"
    try:
        current = await retry_while_unavailable(write, deadline=store_until, what=what)
    except PyMongoError as exc:
        if not unavailable(exc):
            raise
        log.error(
            "LWA refreshed the tokens of user %s for partner %s, but the database did not "
            "store them (%s): the fresh access token is served, the stored set stays the old "
            "one%s",
            link.user_id,
            link.partner_id,
            type(exc).__name__,
            "; LWA sent a new refresh token, so if it retired the stored one the link fails "
            "at its next refresh and the user must link again"
            if tokens.refresh_token is not None
            else "",
        )
        return PartnerAccessToken(tokens.access_token, expires_at, link, True, stored=False)
    if current is None or current.status is not LinkStatus.ACTIVE:
        # Unlinked while we were at LWA: the fresh token must not reach anyone.
        raise LinkRevoked(
            "the link was ended while its token was being refreshed",
            reason=None if current is None else current.status_reason,
        )
    if current.access_token is None or current.access_token.ciphertext != access.ciphertext:
        # Re-linked meanwhile: the fresh token is still good for this caller, but the stored
        # set is newer than ours and stays.
        log.warning(
            "refreshed tokens for user %s / partner %s not stored: link changed meanwhile",
            link.user_id,
            link.partner_id,
        )
        return PartnerAccessToken(tokens.access_token, expires_at, link, refreshed=True)
    log.info("refreshed the LWA token of user %s for partner %s", link.user_id, link.partner_id)
    return PartnerAccessToken(tokens.access_token, expires_at, current, refreshed=True)


async def _refresh_failed(
    deps: LinkingDeps, link: PartnerLink, actor: str, reason: str, **details: str
) -> None:
    await audit.record(
        deps.db,
        "refresh_failed",
        actor=actor,
        user_id=link.user_id,
        partner_id=link.partner_id,
        reason=reason,
        **details,
    )
