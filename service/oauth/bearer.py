"""Bearer protection for our own API (RFC 6750): `Authorization: Bearer <access token>`.

This is the contract other features code against:

    ctx = await require_bearer(request)      # in a handler; 401 on failure
    ctx = await authenticate_access_token(db, token)   # without HTTP; raises InvalidToken

`AccessContext.user_id` is None for client_credentials tokens (they act for a client, not a
user), so a handler that needs a user must check it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

from service.appkeys import DB
from service.db import Database
from service.oauth.token import secret_hash
from service.storage import tokens as token_store

REALM = "alexa-linking"


@dataclass(frozen=True)
class AccessContext:
    user_id: str | None  # Keycloak sub; None for client_credentials tokens
    username: str | None
    client_id: str
    scopes: frozenset[str]
    grant_id: str | None
    expires_at: datetime
    issued_at: datetime


class InvalidToken(Exception):
    """The access token is unknown, expired or revoked (the message is safe to return)."""


async def authenticate_access_token(db: Database, token: str) -> AccessContext:
    if not token or len(token) > 512:
        raise InvalidToken("The access token is invalid.")
    found = await token_store.find_active_access(db, secret_hash(token), datetime.now(UTC))
    if found is None or found.expires_at is None:
        raise InvalidToken("The access token is invalid, expired or revoked.")
    return AccessContext(
        user_id=found.user_id,
        username=found.username,
        client_id=found.client_id,
        scopes=found.scopes,
        grant_id=found.grant_id,
        expires_at=found.expires_at,
        issued_at=found.issued_at,
    )


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer` header (scheme case-insensitive), else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def unauthorized(description: str, *, error: bool = True) -> web.HTTPUnauthorized:
    """401 with the RFC 6750 §3 challenge; without `error` when no token was sent at all."""
    challenge = f'Bearer realm="{REALM}"'
    if error:
        challenge += f', error="invalid_token", error_description="{description}"'
    return web.HTTPUnauthorized(
        headers={"WWW-Authenticate": challenge, "Cache-Control": "no-store"},
        text=json.dumps({"error": "invalid_token", "error_description": description}),
        content_type="application/json",
    )


async def require_bearer(request: web.Request) -> AccessContext:
    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        raise unauthorized("A Bearer access token is required.", error=False)
    try:
        return await authenticate_access_token(request.app[DB], token)
    except InvalidToken as exc:
        raise unauthorized(str(exc)) from None
