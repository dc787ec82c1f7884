"""Access token validation (RFC 6750): what a presented access token stands for.

Used by every feature that accepts our access tokens (`/api/me`, the reciprocal endpoint,
AcceptGrant, the partner API); reading the token from a request is `service.web.bearer`'s job.
One of our tokens is checked by its MAC and one read of its grant (`token_format`,
`storage.token_grants`); a token from before grants held the state, by its stored hash.
`AccessContext.user_id` is None for client_credentials tokens (they act for a client, not a
user), so a feature that needs a user must check it.
"""

from __future__ import annotations

from service.clock import utcnow
from service.crypto import KeyRing
from service.db import Database
from service.models.oauth import AccessContext, TokenClaims, TokenGrant
from service.oauth import token_format
from service.oauth.errors import InvalidToken
from service.oauth.token_values import secret_hash
from service.storage import token_grants
from service.storage import tokens as legacy_tokens

MAX_TOKEN_LENGTH = 1024
BAD_TOKEN = "The access token is invalid, expired or revoked."  # noqa: S105 - a message


async def token_and_grant(
    db: Database, keyring: KeyRing, token: str
) -> tuple[TokenClaims, TokenGrant] | None:
    """The claims and the grant of one of our tokens, if its MAC holds and the grant exists
    (whether the grant still accepts it is the caller's question)."""
    claims = token_format.read(keyring, token)
    if claims is None:
        return None
    grant = await token_grants.get(db, claims.grant_id)
    return None if grant is None else (claims, grant)


async def authenticate_access_token(db: Database, keyring: KeyRing, token: str) -> AccessContext:
    """The token's context, or `InvalidToken` when it is unknown, expired or revoked."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("The access token is invalid.")
    if not token_format.is_minted(token):
        return await _stored_access_token(db, token)
    found = await token_and_grant(db, keyring, token)
    if found is None:
        raise InvalidToken(BAD_TOKEN)
    claims, grant = found
    if (
        claims.kind != "access"
        or claims.expires_at is None
        or claims.expired(utcnow())
        or not grant.accepts("access", claims.issued_at)
    ):
        raise InvalidToken(BAD_TOKEN)
    return AccessContext(
        user_id=grant.user_id,
        username=grant.username,
        client_id=grant.client_id,
        scopes=grant.scopes if claims.scopes is None else claims.scopes,
        grant_id=None if grant.user_id is None else grant.grant_id,  # a client's own grant
        expires_at=claims.expires_at,
        issued_at=claims.issued_at,
    )


async def _stored_access_token(db: Database, token: str) -> AccessContext:
    """A token issued before grants held the state: looked up by its hash, as then."""
    found = await legacy_tokens.find_active_access(db, secret_hash(token), utcnow())
    if found is None or found.expires_at is None:
        raise InvalidToken(BAD_TOKEN)
    return AccessContext(
        user_id=found.user_id,
        username=found.username,
        client_id=found.client_id,
        scopes=found.scopes,
        grant_id=found.grant_id,
        expires_at=found.expires_at,
        issued_at=found.issued_at,
    )


async def user_of_access_token(db: Database, keyring: KeyRing, token: str) -> AccessContext:
    """As `authenticate_access_token`, for features that act for a user: a client_credentials
    token is refused too."""
    access = await authenticate_access_token(db, keyring, token)
    if access.user_id is None:
        raise InvalidToken("The access token does not belong to a user.")
    return access
