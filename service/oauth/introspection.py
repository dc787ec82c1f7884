"""Token introspection (RFC 7662), for the skill backend.

A client may introspect the tokens issued to it; a client with the `introspect` permission (a
resource server such as the skill backend) may introspect any token. For everything else, and
for unknown, expired or revoked tokens, the answer is `{"active": false}` and nothing more.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.clock import utcnow
from service.db import Database
from service.models.oauth import OAuthClient
from service.oauth import scopes
from service.oauth.token import required
from service.oauth.token_values import secret_hash
from service.storage import tokens as token_store

INACTIVE: dict[str, Any] = {"active": False}


async def introspect(
    db: Database, client: OAuthClient, params: Mapping[str, str]
) -> dict[str, Any]:
    token = await token_store.get(db, secret_hash(required(params, "token")))
    if token is None or not token.active(utcnow()):
        return dict(INACTIVE)
    if token.client_id != client.client_id and not client.has_permission("introspect"):
        return dict(INACTIVE)
    answer: dict[str, Any] = {
        "active": True,
        "client_id": token.client_id,
        "scope": scopes.render(token.scopes),
        "iat": int(token.issued_at.timestamp()),
        "token_type": "Bearer" if token.kind == "access" else "refresh_token",
    }
    if token.expires_at is not None:
        answer["exp"] = int(token.expires_at.timestamp())
    if token.user_id is not None:
        answer["sub"] = token.user_id
        answer["username"] = token.username
    return answer
