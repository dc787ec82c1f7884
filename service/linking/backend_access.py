"""Who may use the app backend's API (docs/flows.md flows 4-5): a client_credentials token of a
client holding the `partner_token` permission. A token acting for one user must not read other
users' Amazon tokens."""

from __future__ import annotations

from typing import Final

from service.db import Database
from service.models.oauth import AccessContext
from service.oauth.clients import get_client
from service.oauth.errors import InsufficientScope

PERMISSION: Final = "partner_token"


async def require_backend(db: Database, access: AccessContext) -> str:
    """The actor name of the backend client, or `InsufficientScope`."""
    if access.user_id is not None:
        raise InsufficientScope("this API needs a client_credentials access token")
    client = await get_client(db, access.client_id)
    if client is None or not client.has_permission(PERMISSION):
        raise InsufficientScope(f"the client lacks the {PERMISSION} permission")
    return f"client:{access.client_id}"
