"""Who may use the app backend's API (docs/flows.md flows 4-5): a client_credentials token of a
client holding `partner_token:<partner id>` for the partner it asks about. A backend reads only
its own skills' tokens: another partner's answer is 403 `insufficient_scope`. A token acting for
one user must not read other users' Amazon tokens."""

from __future__ import annotations

from dataclasses import dataclass

from service.db import Database
from service.models.oauth import PARTNER_TOKEN, AccessContext, OAuthClient
from service.oauth.clients import get_client
from service.oauth.errors import InsufficientScope


@dataclass(frozen=True)
class Backend:
    """An app backend's client, once its token was checked."""

    client: OAuthClient

    @property
    def actor(self) -> str:
        return f"client:{self.client.client_id}"

    def for_partner(self, partner_id: str) -> str:
        """The actor name when the client may use `partner_id`'s tokens, else
        `InsufficientScope`."""
        if not self.client.may_use_partner(partner_id):
            raise InsufficientScope(f"the client lacks the {PARTNER_TOKEN}:{partner_id} permission")
        return self.actor


async def require_backend(db: Database, access: AccessContext) -> Backend:
    """The backend client a client_credentials token belongs to, if it holds a partner_token
    permission for at least one partner; `InsufficientScope` otherwise."""
    if access.user_id is not None:
        raise InsufficientScope("this API needs a client_credentials access token")
    client = await get_client(db, access.client_id)
    if client is None or not client.partner_ids:
        raise InsufficientScope(f"the client lacks a {PARTNER_TOKEN}:<partner id> permission")
    return Backend(client)
