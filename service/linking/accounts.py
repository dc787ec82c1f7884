"""Who is linked with what: the apps a customer linked (the account page) and every linked
account (the admin page), each with the state of its Alexa-side link; and unlinking by them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.db import Database
from service.models.linking import PartnerLink
from service.models.oauth import Grant
from service.oauth.unlink import UnlinkHooks, revoke_grant
from service.storage import audit, grants, partner_tokens
from service.storage import clients as client_store
from service.storage import partners as partner_store


@dataclass(frozen=True)
class LinkedApp:
    grant: Grant  # the remembered consent
    name: str  # the client's name (its id when it is gone)
    alexa: PartnerLink | None  # the user's LWA link for the partner of that client, if any


async def linked_apps(db: Database, user_id: str) -> list[LinkedApp]:
    names = {c.client_id: c.name for c in await client_store.list_all(db)}
    alexa = {link.partner_id: link for link in await partner_tokens.list_links(db, user_id=user_id)}
    return [
        LinkedApp(g, names.get(g.client_id, g.client_id), alexa.get(g.client_id))
        for g in await grants.list_for_user(db, user_id)
    ]


async def linked_accounts(db: Database) -> list[LinkedApp]:
    names = {c.client_id: c.name for c in await client_store.list_all(db)}
    alexa = {(link.user_id, link.partner_id): link for link in await partner_tokens.list_links(db)}
    return [
        LinkedApp(g, names.get(g.client_id, g.client_id), alexa.get((g.user_id, g.client_id)))
        for g in await grants.list_all(db)
    ]


async def overview(db: Database) -> dict[str, Any]:
    """The admin home page's figures and the recent audit trail."""
    return {
        "clients": len(await client_store.list_all(db)),
        "partners": len(await partner_store.list_all(db)),
        "links": len(await grants.list_all(db)),
        "events": await audit.recent(db, limit=20),
    }


async def unlink_app(
    db: Database, hooks: UnlinkHooks, *, user_id: str, client_id: str, actor: str
) -> None:
    """End a user's link with a client (our tokens, the consent, the Alexa-side link)."""
    if user_id and client_id:
        await revoke_grant(db, hooks, user_id=user_id, client_id=client_id, actor=actor)
