"""Reading our access token from a request (RFC 6750 §2.1): `Authorization: Bearer <token>`.

    access = await require_bearer(request)   # in a handler; InvalidToken (401) on failure

Checking the token is the domain's (`service.oauth.access`); the 401 and its challenge are
rendered by the error middleware from the `InvalidToken` raised here or there.
"""

from __future__ import annotations

from aiohttp import web

from service.models.oauth import AccessContext
from service.oauth.access import authenticate_access_token
from service.oauth.errors import InvalidToken
from service.web.appkeys import DB, TOKEN_KEYS

NO_TOKEN = "A Bearer access token is required."  # noqa: S105 - a message


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer` header (scheme case-insensitive), else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


async def require_bearer(request: web.Request) -> AccessContext:
    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        raise InvalidToken(NO_TOKEN, token_sent=False)
    return await authenticate_access_token(request.app[DB], request.app[TOKEN_KEYS], token)
