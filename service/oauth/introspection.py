"""Token introspection (RFC 7662), for the skill backend.

A client may introspect the tokens issued to it; a client with the `introspect` permission (a
resource server such as the skill backend) may introspect any token. For everything else, and
for unknown, expired or revoked tokens, the answer is `{"active": false}` and nothing more.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from service.clock import utcnow
from service.models.oauth import OAuthClient, Token, TokenKind
from service.oauth import scopes, token_format
from service.oauth.access import token_and_grant
from service.oauth.deps import OAuthDeps
from service.oauth.token import required
from service.oauth.token_values import secret_hash
from service.storage import token_grants
from service.storage import tokens as legacy_tokens

INACTIVE: dict[str, Any] = {"active": False}


async def introspect(
    deps: OAuthDeps, client: OAuthClient, params: Mapping[str, str]
) -> dict[str, Any]:
    value = required(params, "token")
    if not token_format.is_minted(value):
        return _answer(client, await legacy_tokens.get(deps.db, secret_hash(value)))
    found = await token_and_grant(deps.db, deps.keyring, value)
    if found is None:
        return dict(INACTIVE)
    claims, grant = found
    if claims.expired(utcnow()) or not grant.accepts(claims.kind, claims.issued_at):
        return dict(INACTIVE)
    if claims.kind == "refresh":
        rotation = await token_grants.rotation(deps.db, grant.grant_id)
        if not rotation.accepts(claims.generation, claims.nonce):
            return dict(INACTIVE)  # retired by the use of a successor
    return _describe(
        client,
        client_id=grant.client_id,
        kind=claims.kind,
        scope=grant.scopes if claims.scopes is None else claims.scopes,
        issued_at=claims.issued_at,
        expires_at=claims.expires_at,
        user_id=grant.user_id,
        username=grant.username,
    )


def _answer(client: OAuthClient, token: Token | None) -> dict[str, Any]:
    """A token stored as a hash (from before grants held the state)."""
    if token is None or not token.active(utcnow()):
        return dict(INACTIVE)
    return _describe(
        client,
        client_id=token.client_id,
        kind=token.kind,
        scope=token.scopes,
        issued_at=token.issued_at,
        expires_at=token.expires_at,
        user_id=token.user_id,
        username=token.username,
    )


def _describe(
    client: OAuthClient,
    *,
    client_id: str,
    kind: TokenKind,
    scope: frozenset[str],
    issued_at: datetime,
    expires_at: datetime | None,
    user_id: str | None,
    username: str | None,
) -> dict[str, Any]:
    if client_id != client.client_id and not client.has_permission("introspect"):
        return dict(INACTIVE)
    answer: dict[str, Any] = {
        "active": True,
        "client_id": client_id,
        "scope": scopes.render(scope),
        "iat": int(issued_at.timestamp()),
        "token_type": "Bearer" if kind == "access" else "refresh_token",
    }
    if expires_at is not None:
        answer["exp"] = int(expires_at.timestamp())
    if user_id is not None:
        answer["sub"] = user_id
        answer["username"] = username
    return answer
