"""Access token validation (RFC 6750): what a presented access token stands for.

Used by every feature that accepts our access tokens (`/api/me`, the reciprocal endpoint,
AcceptGrant, the partner API); reading the token from a request is `service.web.bearer`'s job.
`AccessContext.user_id` is None for client_credentials tokens (they act for a client, not a
user), so a feature that needs a user must check it.
"""

from __future__ import annotations

from service.clock import utcnow
from service.db import Database
from service.models.oauth import AccessContext
from service.oauth.errors import InvalidToken
from service.oauth.token_values import secret_hash
from service.storage import tokens as token_store

MAX_TOKEN_LENGTH = 512


async def authenticate_access_token(db: Database, token: str) -> AccessContext:
    """The token's context, or `InvalidToken` when it is unknown, expired or revoked."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("The access token is invalid.")
    found = await token_store.find_active_access(db, secret_hash(token), utcnow())
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


async def user_of_access_token(db: Database, token: str) -> AccessContext:
    """As `authenticate_access_token`, for features that act for a user: a client_credentials
    token is refused too."""
    access = await authenticate_access_token(db, token)
    if access.user_id is None:
        raise InvalidToken("The access token does not belong to a user.")
    return access
