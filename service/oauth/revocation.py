"""Token revocation (RFC 7009).

The client must be authenticated and may revoke only its own tokens. Revoking a refresh token
revokes its grant: everything the authorization produced, access tokens included (§2.1).
Revoking an access token ends it and the grant's other access tokens issued until then (§2.1
allows revoking related tokens); the refresh token keeps working. Unknown tokens get the same
200 as known ones (§2.2), and `token_type_hint` is only a hint: a token says what it is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

from service.clock import utcnow
from service.models.oauth import OAuthClient
from service.oauth import token_format
from service.oauth.access import token_and_grant
from service.oauth.deps import OAuthDeps
from service.oauth.errors import InvalidGrant
from service.oauth.token import required
from service.oauth.token_values import secret_hash
from service.storage import revocations, token_grants
from service.storage import tokens as legacy_tokens

log = logging.getLogger(__name__)
NOT_YOURS = "The token was not issued to this client."


async def revoke(deps: OAuthDeps, client: OAuthClient, params: Mapping[str, str]) -> None:
    value = required(params, "token")
    if not token_format.is_minted(value):
        await _revoke_stored(deps, client, value)
        return
    found = await token_and_grant(deps.db, deps.keyring, value)
    if found is None:
        return
    claims, grant = found
    if grant.client_id != client.client_id:
        raise InvalidGrant(NOT_YOURS)
    if claims.kind == "refresh":
        await revoke_grant(deps, grant.grant_id)
        log.info("client %s revoked a refresh token: grant %s", client.client_id, grant.grant_id)
    else:
        # Just after this token: a token minted in the same millisecond is as old as it.
        cutoff = max(claims.issued_at + timedelta(milliseconds=1), utcnow())
        await token_grants.revoke_access_before(deps.db, grant.grant_id, cutoff)
        log.info("client %s revoked an access token of grant %s", client.client_id, grant.grant_id)


async def revoke_grant(deps: OAuthDeps, grant_id: str) -> None:
    """End every token of the grant: ours by the grant, stored ones (from before) by marking."""
    now = utcnow()
    # Recorded first: a reciprocal link under way for this grant checks it after storing.
    await revocations.record_grant(deps.db, grant_id, now)
    await token_grants.revoke(deps.db, grant_id, now)
    await legacy_tokens.revoke_grant(deps.db, grant_id)


async def _revoke_stored(deps: OAuthDeps, client: OAuthClient, value: str) -> None:
    """A token stored as a hash (from before grants held the state)."""
    token = await legacy_tokens.get(deps.db, secret_hash(value))
    if token is None:
        return
    if token.client_id != client.client_id:
        raise InvalidGrant(NOT_YOURS)
    if token.kind == "refresh" and token.grant_id is not None:
        await revoke_grant(deps, token.grant_id)
        log.info("client %s revoked a stored refresh token", client.client_id)
    else:
        await legacy_tokens.revoke(deps.db, token.token_hash)
        log.info("client %s revoked a stored access token", client.client_id)
