"""What the admin pages show and do for support ("customer X says Alexa stopped working"):
the overview's exact counts, linked accounts found by the start of a username, email or
Keycloak id, one customer on one page (Keycloak's current view of them, their grants, their
Alexa links with the reason one ended, their audit trail), the audit trail filtered and paged,
and ending one link or all of a customer's links.

Lists are read a page at a time (PAGE_SIZE rows, newest activity first) with the indexes made
at start (`storage/indexes.py`); counts are count queries, never lengths of capped lists.
Keycloak is asked once per user page, within KEYCLOAK_SECONDS: when it does not answer, the
page shows what we store and says so. The audit trail's part of the overview and of the user
page is read within the database's operation timeout: when it does not answer in time the
rest of the page still shows, with a note (docs/libraries.md §7: FerretDB answers any filter
but an `_id` by reading the whole collection).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, TypeVar
from urllib.parse import quote

from pymongo.errors import PyMongoError

from service.db import Database, unavailable
from service.keycloak_admin import KeycloakAdminClient, KeycloakAdminUnavailable
from service.linking import links as link_domain
from service.linking import partners as partner_domain
from service.models.linking import LinkStatus, PartnerLink
from service.models.oauth import Grant, OAuthClient, TokenGrant
from service.oauth.unlink import UnlinkHooks, revoke_grant
from service.settings import Settings
from service.storage import audit, grants, partner_tokens, token_grants
from service.storage import clients as client_store
from service.storage import partners as partner_store

log = logging.getLogger(__name__)

PAGE_SIZE: Final = 50
MAX_PAGE: Final = 100_000  # deeper than any real list; a larger number is refused
CSV_LIMIT: Final = 100_000  # rows of one CSV export, newest first
USER_EVENTS: Final = 50  # the user page's part of the audit trail (the rest: /admin/audit)
USER_GRANTS: Final = 200  # active OAuth grants shown on the user page
KEYCLOAK_SECONDS: Final = 2.0  # the user page waits this long at most for Keycloak
T = TypeVar("T")

# What the stored reasons a link ended mean (set by linking/delivery, linking/tokens,
# linking/links and identity_sync).
END_REASONS: Final = {
    "unlinked": "unlinked (by the user, an admin, or the removal of the client)",
    "ended_by_admin": "ended by an admin",
    "lwa_invalid_grant": "Login with Amazon refused the refresh token (permission removed)",
    "alexa_403": "Alexa answered 403 (skill disabled or permission withdrawn)",
    "user_disabled": "the user was disabled in Keycloak",
    "user_deleted": "the user was deleted in Keycloak",
}


def end_reason_text(status: LinkStatus, reason: str | None) -> str:
    """A person's reading of why a link ended."""
    if reason in END_REASONS:
        return END_REASONS[reason]
    if status is LinkStatus.INACTIVE:  # Alexa's 403 with its error code
        return f"Alexa answered 403 ({reason or 'no code'}): skill disabled or permission withdrawn"
    return reason or "no reason recorded"


@dataclass(frozen=True)
class Paging:
    """Where a list stands: page `number` (from 1) of PAGE_SIZE rows."""

    number: int
    has_next: bool
    total: int | None = None  # exact, where the page counts

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @staticmethod
    def skip(number: int) -> int:
        return (number - 1) * PAGE_SIZE


def _paged(rows: list[T], number: int, total: int | None = None) -> tuple[list[T], Paging]:
    """`rows` were read with one more than a page, to know whether a next page exists."""
    return rows[:PAGE_SIZE], Paging(number, len(rows) > PAGE_SIZE, total)


async def _within_db_timeout(read: Awaitable[T], what: str) -> tuple[T | None, str | None]:
    """The read's result, or None and a note when the database did not answer in time."""
    try:
        return await read, None
    except PyMongoError as exc:
        if not unavailable(exc):
            raise
        log.warning("admin page: %s did not answer in time (%s)", what, type(exc).__name__)
        return None, f"The {what} did not answer in time; try again, or narrow the view."


# --- overview and lists --------------------------------------------------------------------


async def overview(db: Database) -> dict[str, Any]:
    """The admin home page: exact counts (count queries) and the newest events."""
    links, links_note = await _within_db_timeout(grants.count(db), "count of linked accounts")
    events, note = await _within_db_timeout(
        audit.page(db, audit.Filter(), skip=0, limit=20), "audit trail"
    )
    return {
        "clients": await client_store.count(db),
        "partners": await partner_store.count(db),
        "links": links,
        "links_note": links_note,
        "events": await with_names(db, events or []),
        "events_note": note,
    }


@dataclass(frozen=True)
class AccountRow:
    """One linked account: a user's consent for a client, with the Alexa side of it."""

    grant: Grant
    client_name: str
    alexa: PartnerLink | None


async def linked_accounts(
    db: Database, prefix: str, number: int
) -> tuple[list[AccountRow], Paging]:
    found = await grants.search(db, prefix, skip=Paging.skip(number), limit=PAGE_SIZE + 1)
    rows, paging = _paged(found, number, await grants.count(db, prefix))
    names = await client_store.names(db)
    alexa = await partner_tokens.links_of_users(db, sorted({g.user_id for g in rows}))
    return [
        AccountRow(g, names.get(g.client_id, g.client_id), alexa.get((g.user_id, g.client_id)))
        for g in rows
    ], paging


async def clients_page(db: Database, prefix: str, number: int) -> tuple[list[OAuthClient], Paging]:
    found = await client_store.page(db, prefix, skip=Paging.skip(number), limit=PAGE_SIZE + 1)
    return _paged(found, number, await client_store.count(db, prefix))


async def partners_page(
    db: Database, prefix: str, number: int, *, allow_custom: bool
) -> tuple[list[dict[str, Any]], Paging]:
    """A page of partners, each with whether an OAuth client holds its id and which of its
    stored Amazon URLs may no longer be called."""
    found = await partner_store.page(db, prefix, skip=Paging.skip(number), limit=PAGE_SIZE + 1)
    rows, paging = _paged(found, number, await partner_store.count(db, prefix))
    clients = await client_store.names(db)
    return [
        {
            **partner_domain.describe(p),
            "has_client": p.partner_id in clients,
            "refused_urls": partner_domain.refused_urls(p, allow_custom=allow_custom),
        }
        for p in rows
    ], paging


# --- one customer --------------------------------------------------------------------------


@dataclass(frozen=True)
class KeycloakView:
    """What Keycloak says about the user now, or why we cannot say."""

    console_url: str
    found: bool = False
    username: str | None = None
    email: str | None = None
    enabled: bool | None = None
    note: str | None = None  # Keycloak did not answer, or has no such user


@dataclass(frozen=True)
class GrantView:
    """An OAuth grant (one authorization) and when its refresh token was last used."""

    grant: TokenGrant
    client_name: str
    last_used: datetime | None


@dataclass(frozen=True)
class LinkView:
    """An Alexa (LWA) link with its last refresh failure and, once ended, why."""

    link: PartnerLink
    last_failure: dict[str, Any] | None  # the newest refresh_failed event after the last refresh
    end_reason: str | None

    @property
    def active(self) -> bool:
        return self.link.status is LinkStatus.ACTIVE


@dataclass(frozen=True)
class CustomerView:
    user_id: str
    username: str | None  # as we stored it (the consent, the link)
    email: str | None
    keycloak: KeycloakView
    consents: list[Grant]
    client_names: dict[str, str]
    grants: list[GrantView]
    links: list[LinkView]
    events: list[dict[str, Any]] = field(default_factory=list)
    events_note: str | None = None

    @property
    def known(self) -> bool:
        return bool(self.consents or self.grants or self.links or self.events)


def console_url(settings: Settings, user_id: str) -> str:
    """The user in Keycloak's admin console."""
    realm = quote(settings.keycloak_realm, safe="")
    return (
        f"{settings.keycloak_url.rstrip('/')}/admin/{realm}/console/#/{realm}/users/"
        f"{quote(user_id, safe='')}/settings"
    )


async def keycloak_view(
    keycloak: KeycloakAdminClient, settings: Settings, user_id: str
) -> KeycloakView:
    url = console_url(settings, user_id)
    try:
        async with asyncio.timeout(min(KEYCLOAK_SECONDS, settings.keycloak_timeout)):
            account = await keycloak.user(user_id)
    except (KeycloakAdminUnavailable, TimeoutError) as exc:
        reason = exc.description if isinstance(exc, KeycloakAdminUnavailable) else "no answer"
        log.warning("admin user page: Keycloak not asked about %s: %s", user_id, reason)
        return KeycloakView(
            url,
            note=f"Keycloak did not answer ({reason}); shown is what we stored.",
        )
    if account is None:
        return KeycloakView(url, note="Keycloak has no user with this id (deleted).")
    return KeycloakView(url, True, account.username, account.email, account.enabled)


async def _last_failure(db: Database, user_id: str, link: PartnerLink) -> dict[str, Any] | None:
    where = audit.Filter(user_id=user_id, partner_id=link.partner_id, action="refresh_failed")
    newest = await audit.page(db, where, skip=0, limit=1)
    if not newest:
        return None
    since = link.refreshed_at or link.linked_at
    return newest[0] if newest[0]["at"] >= since else None


async def customer(
    db: Database, keycloak: KeycloakAdminClient, settings: Settings, user_id: str
) -> CustomerView:
    kc = asyncio.ensure_future(keycloak_view(keycloak, settings, user_id))
    try:
        consents = await grants.list_for_user(db, user_id)
        names = await client_store.names(db)
        grant_views = [
            GrantView(
                g, names.get(g.client_id, g.client_id), await token_grants.last_used(db, g.grant_id)
            )
            for g in await token_grants.active_for_user(db, user_id, limit=USER_GRANTS)
        ]
        link_views = []
        for link in await partner_tokens.list_links(db, user_id=user_id):
            failure, _ = await _within_db_timeout(_last_failure(db, user_id, link), "audit trail")
            ended = (
                None
                if link.status is LinkStatus.ACTIVE
                else end_reason_text(link.status, link.status_reason)
            )
            link_views.append(LinkView(link, failure, ended))
        events, note = await _within_db_timeout(
            audit.page(db, audit.Filter(user_id=user_id), skip=0, limit=USER_EVENTS),
            "audit trail",
        )
    except BaseException:
        kc.cancel()
        raise
    stored = next((g for g in consents if g.username), None)
    username = (
        stored.username
        if stored
        else next((lv.link.username for lv in link_views if lv.link.username), None)
    )
    return CustomerView(
        user_id=user_id,
        username=username,
        email=stored.email if stored else None,
        keycloak=await kc,
        consents=consents,
        client_names=names,
        grants=grant_views,
        links=link_views,
        events=await with_names(db, events or []),
        events_note=note,
    )


async def end_link(
    db: Database,
    hooks: UnlinkHooks,
    *,
    user_id: str,
    actor: str,
    client_id: str = "",
    partner_id: str = "",
) -> None:
    """End one of the user's links: with a client, everything the client holds for them
    (our tokens, the consent, and through the unlink hook their Alexa link of that id); or an
    Alexa link alone (a partner whose client is gone)."""
    if client_id:
        await revoke_grant(db, hooks, user_id=user_id, client_id=client_id, actor=actor)
    elif partner_id:
        await link_domain.unlink(db, user_id, partner_id, actor=actor, reason="ended_by_admin")


async def end_all(db: Database, hooks: UnlinkHooks, *, user_id: str, actor: str) -> int:
    """End every link of the user: every client's grants and consent, then any Alexa link
    left. Returns how many clients and partners were ended."""
    clients = {g.client_id for g in await grants.list_for_user(db, user_id)}
    clients |= {g.client_id for g in await token_grants.active_for_user(db, user_id, limit=10_000)}
    for client_id in sorted(clients):
        await revoke_grant(db, hooks, user_id=user_id, client_id=client_id, actor=actor)
    ended = len(clients)
    for link in await partner_tokens.list_links(db, user_id=user_id):
        if link.status is LinkStatus.ACTIVE and await link_domain.unlink(
            db, user_id, link.partner_id, actor=actor, reason="ended_by_admin"
        ):
            ended += 1
    return ended


# --- the audit trail -----------------------------------------------------------------------


async def with_names(db: Database, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each event with the names of the people and clients it names by id: `user_name`,
    `actor_name`, `client_name` (absent where we know no name)."""
    if not events:
        return []
    ids = sorted({str(e[k]) for e in events for k in ("user_id", "actor") if e.get(k)})
    people = await partner_tokens.names(db, ids)
    people.update(await grants.names(db, ids))
    clients = await client_store.names(db)
    named = []
    for event in events:
        details = event.get("details") or {}
        client_id = details.get("client_id") or details.get("partner_id")
        named.append(
            {
                **event,
                "details": details,
                "user_name": people.get(str(event.get("user_id"))),
                "actor_name": _actor_name(str(event.get("actor") or ""), people, clients),
                "client_name": clients.get(str(client_id)) if client_id else None,
            }
        )
    return named


def _actor_name(actor: str, people: dict[str, str], clients: dict[str, str]) -> str | None:
    """A user id's username, or for `client:<id>` (a client acting) the client's name."""
    if actor.startswith("client:"):
        return clients.get(actor.removeprefix("client:"))
    return people.get(actor)


async def audit_page(
    db: Database, where: audit.Filter, number: int
) -> tuple[list[dict[str, Any]], Paging]:
    found = await audit.page(db, where, skip=Paging.skip(number), limit=PAGE_SIZE + 1)
    rows, paging = _paged(found, number)
    return await with_names(db, rows), paging


# The event types our code records (the audit filter's suggestions; any other is accepted).
KNOWN_EVENTS: Final = (
    "oauth.consent",
    "oauth.unlink",
    "oauth.code_replayed",
    "link",
    "link_failed",
    "link_inactive",
    "unlink",
    "refresh_failed",
    "identity.user_disabled",
    "identity.user_deleted",
    "client_created",
    "client_updated",
    "client_secret_rotated",
    "client_removed",
    "partner_saved",
    "partner_removed",
)


CSV_COLUMNS: Final = (
    "at",
    "action",
    "actor",
    "actor_name",
    "user_id",
    "user_name",
    "client_id",
    "partner_id",
    "client_name",
    "details",
)


async def audit_rows(db: Database, where: audit.Filter) -> AsyncIterator[list[str]]:
    """The filtered trail as CSV rows (the header first), newest first, at most CSV_LIMIT;
    names are looked up a page at a time."""
    yield list(CSV_COLUMNS)
    batch: list[dict[str, Any]] = []
    async for event in audit.each(db, where, limit=CSV_LIMIT):
        batch.append(event)
        if len(batch) == PAGE_SIZE * 10:
            for row in await with_names(db, batch):
                yield _csv_row(row)
            batch = []
    for row in await with_names(db, batch):
        yield _csv_row(row)


def _csv_row(event: dict[str, Any]) -> list[str]:
    details = dict(event.get("details") or {})
    client_id = str(details.pop("client_id", "") or "")
    partner_id = str(details.pop("partner_id", "") or "")
    at = event.get("at")
    return [
        at.isoformat() if isinstance(at, datetime) else str(at or ""),
        str(event.get("action") or ""),
        str(event.get("actor") or ""),
        event.get("actor_name") or "",
        str(event.get("user_id") or ""),
        event.get("user_name") or "",
        client_id,
        partner_id,
        event.get("client_name") or "",
        " ".join(f"{k}={v}" for k, v in sorted(details.items())),
    ]
