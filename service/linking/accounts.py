"""Who is linked with what: the apps a customer linked (the account page), each with the state
of its Alexa-side link; and unlinking by them. The admin's paged lists are
`service.admin_support`'s."""

from __future__ import annotations

from dataclasses import dataclass

from service.db import Database
from service.models.linking import PartnerLink
from service.models.oauth import Grant
from service.oauth.unlink import UnlinkHooks, revoke_grant
from service.storage import clients as client_store
from service.storage import grants, partner_tokens


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


async def unlink_app(
    db: Database, hooks: UnlinkHooks, *, user_id: str, client_id: str, actor: str
) -> None:
    """End a user's link with a client (our tokens, the consent, the Alexa-side link)."""
    if user_id and client_id:
        await revoke_grant(db, hooks, user_id=user_id, client_id=client_id, actor=actor)
