"""Token revocation (RFC 7009).

The client must be authenticated and may revoke only its own tokens. Revoking a refresh token
revokes everything its authorization produced, access tokens included (§2.1); revoking an
access token ends that token only. Unknown tokens get the same 200 as known ones (§2.2), and
`token_type_hint` is only a hint: we look tokens up by hash whatever their type.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from service.clock import utcnow
from service.db import Database
from service.models.oauth import OAuthClient
from service.oauth.errors import InvalidGrant
from service.oauth.token import required
from service.oauth.token_values import secret_hash
from service.storage import revocations
from service.storage import tokens as token_store

log = logging.getLogger(__name__)


async def revoke(db: Database, client: OAuthClient, params: Mapping[str, str]) -> None:
    token = await token_store.get(db, secret_hash(required(params, "token")))
    if token is None:
        return
    if token.client_id != client.client_id:
        raise InvalidGrant("The token was not issued to this client.")
    if token.kind == "refresh" and token.grant_id is not None:
        # Recorded first, so a refresh of this grant under way cannot keep what it issues.
        await revocations.record_grant(db, token.grant_id, utcnow())
        count = await token_store.revoke_grant(db, token.grant_id)
        log.info(
            "client %s revoked a refresh token: %d tokens of grant %s",
            client.client_id,
            count,
            token.grant_id,
        )
    else:
        await token_store.revoke(db, token.token_hash)
        log.info("client %s revoked an access token", client.client_id)
