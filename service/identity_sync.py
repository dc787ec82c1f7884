"""Identity changes in Keycloak reach what we issued (docs/keycloak.md).

A user whom an administrator disables or deletes in Keycloak loses, within a minute, everything
we hold for them: their grants (so every access and refresh token of ours stops working at its
next use), tokens stored before grants held the state, codes not yet exchanged, their LWA links
with partners (ended as an unlink ends them: tokens deleted, link marked revoked) and their
browser sessions. Our token endpoint never asks Keycloak (a refresh is a MAC check and one
read), so Keycloak does not tell us at refresh time: we read its stored admin events (user
`UPDATE` and `DELETE`) every ALS_KEYCLOAK_SYNC_SECONDS through our client's service account.

While Keycloak or Mongo does not answer, nothing changes: tokens and links keep working, and
the cursor stays where it was, so the changes made meanwhile apply once both answer again.

One process does a round at a time (a lease in Mongo, `storage.identity_sync`). Processing is
idempotent and bounded in time, so reading an event twice (the overlap below, two processes
at once) is harmless:
- a deleted user (ids are never reused) loses everything made up to now;
- an `UPDATE` that disabled the user (its stored representation says `enabled: false`, or,
  without one, Keycloak says the user is disabled now) ends everything made up to now while
  the user is still disabled, and only what was made up to the event when the user has been
  enabled again since: what they got after that stays.
Every end also writes a revocation record (`storage.revocations`) first, so that a code
exchange or a link under way at that moment, which may store its grant or link after the
updates ran, checks it and undoes its own work.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from service.clock import Clock, utcnow
from service.db import Database
from service.keycloak_admin import EVENT_PAGE, AdminEvent, KeycloakAdminClient
from service.linking.links import end_user_links
from service.logins import end_user_sessions
from service.storage import audit, revocations, skill_enablements, token_grants
from service.storage import authorization_codes as code_store
from service.storage import grants as grant_store
from service.storage import identity_sync as sync_store
from service.storage import tokens as legacy_tokens

log = logging.getLogger(__name__)

# An event becomes visible a moment after the time it carries (it is stored when Keycloak's
# transaction commits): each read starts this far before the newest event already processed
# (docs/keycloak.md §1).
OVERLAP_MS: Final = 10_000
RESOURCE_TYPES: Final = ("USER",)
OPERATIONS: Final = ("UPDATE", "DELETE")
MAX_PAGES: Final = 25  # per poll; a longer backlog continues at the next one
ACTOR: Final = "keycloak"

Reason = Literal["disabled", "deleted"]


@dataclass(frozen=True)
class UserEnded:
    user_id: str
    reason: Reason
    cutoff: datetime  # what was made up to this time ended
    grants: int
    links: int


@dataclass
class SyncResult:
    events: int = 0
    ended: list[UserEnded] = field(default_factory=list)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


async def start(db: Database, now: datetime) -> None:
    """A database that never synced reads the events from now on. Changes made in Keycloak
    before the first start of a version with this sync are not read: README, "Identity
    changes in Keycloak"."""
    await sync_store.start(db, _ms(now))


async def sync_once(
    db: Database,
    keycloak: KeycloakAdminClient,
    *,
    interval: float,
    session_max_age: int,
    clock: Clock = utcnow,
) -> SyncResult | None:
    """One round: read the admin events and do what they call for, unless another process
    holds the lease (None). Raises `KeycloakAdminUnavailable` or a `PyMongoError` when one of
    them fails; what was processed until then is kept."""
    now = clock()
    # Held for most of an interval: each process tries once an interval, and the one that
    # took it last usually takes it again; if it stops, another takes over an interval later.
    until = now + timedelta(seconds=0.9 * interval)
    if not await sync_store.take_lease(db, now=now, until=until):
        return None
    position = await sync_store.cursor(db) or sync_store.Cursor(_ms(now))
    since = position.from_ms
    result = SyncResult()
    for page in range(MAX_PAGES):
        events = await keycloak.admin_events(
            since_ms=since,
            resource_types=RESOURCE_TYPES,
            operations=OPERATIONS,
            first=page * EVENT_PAGE,
            limit=EVENT_PAGE,
        )
        for event in events:
            if event.key in position.seen:
                continue
            ended = await apply_event(
                db, keycloak, event, session_max_age=session_max_age, clock=clock
            )
            if ended is not None:
                result.ended.append(ended)
            result.events += 1
            position = _advanced(position, event)
        await sync_store.save_cursor(db, position)
        if len(events) < EVENT_PAGE:
            break
    return result


def _advanced(position: sync_store.Cursor, event: AdminEvent) -> sync_store.Cursor:
    from_ms = max(position.from_ms, event.time_ms - OVERLAP_MS)
    seen = {k: t for k, t in position.seen.items() if t >= from_ms}
    seen[event.key] = event.time_ms
    return sync_store.Cursor(from_ms, seen)


async def apply_event(
    db: Database,
    keycloak: KeycloakAdminClient,
    event: AdminEvent,
    *,
    session_max_age: int,
    clock: Clock = utcnow,
) -> UserEnded | None:
    """What one user event calls for: ending the user's tokens, links and sessions, or
    nothing."""
    user_id = event.user_id
    if user_id is None:
        return None
    if event.operation == "DELETE":
        return await end_user(
            db, user_id, reason="deleted", cutoff=clock(), session_max_age=session_max_age
        )
    if event.operation != "UPDATE":
        return None
    sent = event.representation
    if isinstance(sent, dict) and sent.get("enabled") is not False:
        await _note_identity(db, user_id, sent)  # a rename, or another change: not an ending
        return None
    disabled_then = isinstance(sent, dict)  # else: not stored, so ask Keycloak
    account = await keycloak.user(user_id)
    if account is None:
        reason: Reason = "deleted"
        cutoff = clock()
    elif not account.enabled:
        reason, cutoff = "disabled", clock()
    elif disabled_then:
        # Enabled again since: only what was made before the event ends.
        reason, cutoff = "disabled", datetime.fromtimestamp(event.time_ms / 1000, UTC)
    else:
        return None
    return await end_user(
        db, user_id, reason=reason, cutoff=cutoff, session_max_age=session_max_age
    )


async def _note_identity(db: Database, user_id: str, sent: dict[str, object]) -> None:
    """The username and email the update left the user with, for the admin's search (the
    representation Keycloak records with the event holds the whole user)."""
    username, email = sent.get("username"), sent.get("email")
    if not isinstance(username, str) or not username:
        return
    changed = await grant_store.note_identity(
        db, user_id=user_id, username=username, email=email if isinstance(email, str) else None
    )
    if changed:
        log.info("user %s is now %s in Keycloak: %d consents updated", user_id, username, changed)


async def end_user(
    db: Database, user_id: str, *, reason: Reason, cutoff: datetime, session_max_age: int
) -> UserEnded:
    """End what the user got up to `cutoff`: grants and stored tokens, codes, LWA links, the
    Amazon tokens of links made from our side, and browser sessions. Idempotent."""
    await revocations.record_identity_end(db, user_id, cutoff)
    await code_store.delete_for_user(db, user_id, issued_before=cutoff)
    grants = await token_grants.revoke_user(db, user_id, cutoff)
    grants += await legacy_tokens.revoke_user(db, user_id)
    links = await end_user_links(
        db, user_id, linked_before=cutoff, actor=ACTOR, reason=f"user_{reason}"
    )
    links += await skill_enablements.delete_for_user(db, user_id, linked_before=cutoff)
    await end_user_sessions(db, user_id, before=cutoff, max_age=session_max_age)
    await audit.record(
        db,
        f"identity.user_{reason}",
        actor=ACTOR,
        user_id=user_id,
        revoked=grants,
        links_ended=links,
    )
    log.info(
        "user %s was %s in Keycloak: %d grants and tokens revoked, %d links ended, sessions ended",
        user_id,
        reason,
        grants,
        links,
    )
    return UserEnded(user_id, reason, cutoff, grants, links)
