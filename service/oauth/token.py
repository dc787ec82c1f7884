"""The token endpoint's grants (RFC 6749 §4.1.3, §4.4, §6; PKCE per RFC 7636 §4.6).

`handle_token_request` takes the Authorization header and the form parameters and returns a
`TokenResponse` or raises an `OAuthError`; the handler only renders. Tokens are opaque 256-bit
random strings, stored only as SHA-256 hashes.

Refresh follows Amazon's account-linking rule that an old refresh token must not die the moment
a new one is issued: with the `reuse` policy the same refresh token is returned; with `rotate`
a new one is issued and the presented one stays valid until its successor is first used.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from service.clock import utcnow
from service.db import Database
from service.models.oauth import (
    AUTHORIZATION_CODE,
    GRANT_TYPES,
    REFRESH_TOKEN,
    ROTATE,
    AuthorizationCode,
    ClientCredentials,
    OAuthClient,
    Token,
)
from service.oauth import pkce, scopes
from service.oauth.clients import authenticate_client
from service.oauth.errors import (
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    OAuthError,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from service.oauth.token_values import new_secret_value, secret_hash
from service.storage import audit, revocations
from service.storage import authorization_codes as code_store
from service.storage import tokens as token_store

log = logging.getLogger(__name__)

BAD_CODE = "The authorization code is invalid, expired, already used or not issued to you."
BAD_REFRESH = "The refresh token is invalid, expired, revoked or not issued to you."


def required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if value is None:
        raise InvalidRequest(f"Missing parameter: {name}.")
    return value


@dataclass(frozen=True)
class TokenResponse:
    access_token: str = field(default="", repr=False)  # never printed or logged
    expires_in: int = 0
    scopes: frozenset[str] = frozenset()
    refresh_token: str | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": int(self.expires_in),
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        if self.scopes:
            body["scope"] = scopes.render(self.scopes)
        return body


async def issue_tokens(
    db: Database,
    client: OAuthClient,
    *,
    user_id: str | None,
    username: str | None,
    scope: frozenset[str],
    grant_id: str | None,
    with_refresh: bool,
    keep_refresh_token: str | None = None,
    previous: str | None = None,
    refresh_scope: frozenset[str] | None = None,
) -> TokenResponse:
    """Mint an access token (and a refresh token unless `keep_refresh_token` is returned as it
    is, or `with_refresh` is False) and store their hashes. The refresh token carries
    `refresh_scope` (default: `scope`), which may be wider than the access token's."""
    now = utcnow()
    access = new_secret_value()
    stored = [
        Token(
            token_hash=secret_hash(access),
            kind="access",
            client_id=client.client_id,
            user_id=user_id,
            username=username,
            scopes=scope,
            grant_id=grant_id,
            issued_at=now,
            expires_at=now + timedelta(seconds=client.access_token_ttl),
        )
    ]
    refresh = keep_refresh_token
    if with_refresh and refresh is None:
        refresh = new_secret_value()
        ttl = client.refresh_token_ttl
        stored.append(
            Token(
                token_hash=secret_hash(refresh),
                kind="refresh",
                client_id=client.client_id,
                user_id=user_id,
                username=username,
                scopes=scope if refresh_scope is None else refresh_scope,
                grant_id=grant_id,
                issued_at=now,
                expires_at=now + timedelta(seconds=ttl) if ttl else None,
                previous=previous,
            )
        )
    await token_store.insert_many(db, stored)
    return TokenResponse(access, client.access_token_ttl, scope, refresh)


async def handle_token_request(
    db: Database, credentials: ClientCredentials, params: Mapping[str, str]
) -> TokenResponse:
    started = utcnow()
    grant_type = required(params, "grant_type")
    if grant_type not in GRANT_TYPES:
        raise UnsupportedGrantType(f"Grant type {grant_type[:40]} is not supported.")
    client = await authenticate_client(db, credentials)
    if not client.allows_grant(grant_type):
        raise UnauthorizedClient()
    if grant_type == AUTHORIZATION_CODE:
        return await exchange_code(db, client, params)
    if grant_type == REFRESH_TOKEN:
        return await refresh(db, client, params)
    return await client_credentials(db, client, params, authenticated_at=started)


async def exchange_code(
    db: Database, client: OAuthClient, params: Mapping[str, str]
) -> TokenResponse:
    value = required(params, "code")
    code_hash = secret_hash(value)
    code = await code_store.get(db, code_hash)
    if code is None:
        raise InvalidGrant(BAD_CODE)
    refusal: InvalidGrant | InvalidRequest | None = None
    if code.client_id != client.client_id or code.expires_at <= utcnow():
        refusal = InvalidGrant(BAD_CODE)
    elif code.redirect_uri is not None and "redirect_uri" not in params:
        refusal = InvalidRequest("Missing parameter: redirect_uri.")
    if refusal is not None:
        # Refused without spending the code; but a code already spent is a replay, whoever
        # sends it and however late.
        if await code_store.is_claimed(db, code_hash):
            await _replayed(db, code)
            raise InvalidGrant(BAD_CODE)
        raise refusal
    if not await code_store.claim(db, code):
        await _replayed(db, code)  # used before, or lost the race to a concurrent exchange
        raise InvalidGrant(BAD_CODE)
    # From here the code is spent, also when a check below fails: a wrong verifier or redirect
    # URI cannot be retried against the same code.
    _check_redirect_uri(client, code, params.get("redirect_uri"))
    pkce.verify(code.code_challenge, code.code_challenge_method, params.get("code_verifier"))
    response = await issue_tokens(
        db,
        client,
        user_id=code.user_id,
        username=code.username,
        scope=code.scopes,
        grant_id=code.grant_id,
        with_refresh=client.allows_grant(REFRESH_TOKEN),
    )
    if await code_store.was_replayed(db, code_hash):
        # A replay arrived while these tokens were being issued: they are revoked like the rest
        # (this exchange still won; its answer is the one the RFC lets a replay spoil).
        await token_store.revoke_grant(db, code.grant_id)
        return response
    return await _unless_revoked_meanwhile(
        db,
        response,
        InvalidGrant(BAD_CODE),
        user_id=code.user_id,
        client_id=client.client_id,
        grant_id=None,
        granted_at=code.created_at,
    )


async def _unless_revoked_meanwhile(
    db: Database,
    response: TokenResponse,
    error: OAuthError,
    *,
    user_id: str | None,
    client_id: str,
    grant_id: str | None,
    granted_at: datetime,
) -> TokenResponse:
    """`response`, unless what it was issued from (granted at `granted_at`) was revoked, unlinked
    or its client removed while we were issuing (`storage.revocations`): then what was issued
    is revoked too, and `error` raised."""
    if not await revocations.revoked_since(
        db, user_id=user_id, client_id=client_id, grant_id=grant_id, granted_at=granted_at
    ):
        return response
    await token_store.revoke(db, secret_hash(response.access_token))
    if response.refresh_token is not None:
        await token_store.revoke(db, secret_hash(response.refresh_token))
    raise error


def _check_redirect_uri(client: OAuthClient, code: AuthorizationCode, sent: str | None) -> None:
    # RFC 6749 §4.1.3: required and identical if it was part of the authorization request.
    if code.redirect_uri is not None:
        if sent != code.redirect_uri:
            raise InvalidGrant("redirect_uri does not match the authorization request.")
    elif sent is not None and not client.check_redirect_uri(sent):
        raise InvalidGrant("redirect_uri is not registered for this client.")


async def _replayed(db: Database, code: AuthorizationCode) -> None:
    """RFC 6749 §4.1.2: a code used twice revokes every token issued from it."""
    await code_store.mark_replayed(db, code.code_hash)
    revoked = await token_store.revoke_grant(db, code.grant_id)
    log.warning(
        "authorization code replayed for client %s; revoked %d tokens of grant %s",
        code.client_id,
        revoked,
        code.grant_id,
    )
    await audit.record(
        db,
        "oauth.code_replayed",
        actor=code.client_id,
        user_id=code.user_id,
        client_id=code.client_id,
        grant_id=code.grant_id,
        revoked=revoked,
    )


async def refresh(db: Database, client: OAuthClient, params: Mapping[str, str]) -> TokenResponse:
    value = required(params, "refresh_token")
    token = await token_store.get(db, secret_hash(value))
    if (
        token is None
        or token.kind != "refresh"
        or token.client_id != client.client_id
        or not token.active(utcnow())
    ):
        raise InvalidGrant(BAD_REFRESH)
    requested = scopes.parse(params.get("scope")) or token.scopes
    if not requested <= token.scopes:
        raise InvalidScope("The requested scope exceeds what was granted.")
    if token.previous is not None:
        await token_store.retire_predecessor(db, token)
    rotate = client.refresh_policy == ROTATE
    # RFC 6749 §6: a narrower `scope` narrows the access token only; a rotated refresh token
    # keeps the scope of the one it replaces, or the narrowing would be permanent.
    response = await issue_tokens(
        db,
        client,
        user_id=token.user_id,
        username=token.username,
        scope=requested,
        grant_id=token.grant_id,
        with_refresh=True,
        keep_refresh_token=None if rotate else value,
        previous=token.token_hash if rotate else None,
        refresh_scope=token.scopes,
    )
    # (With `reuse`, the refresh token in the response is the presented one: already revoked.)
    return await _unless_revoked_meanwhile(
        db,
        response,
        InvalidGrant(BAD_REFRESH),
        user_id=token.user_id,
        client_id=client.client_id,
        grant_id=token.grant_id,
        granted_at=token.issued_at,
    )


async def client_credentials(
    db: Database, client: OAuthClient, params: Mapping[str, str], *, authenticated_at: datetime
) -> TokenResponse:
    requested = scopes.parse(params.get("scope")) or client.scopes
    unknown = client.unknown_scopes(requested)
    if unknown:
        raise InvalidScope(f"Scope not allowed for this client: {scopes.render(unknown)}.")
    # RFC 6749 §4.4.3: no refresh token; the token acts for the client, not for a user.
    response = await issue_tokens(
        db, client, user_id=None, username=None, scope=requested, grant_id=None, with_refresh=False
    )
    return await _unless_revoked_meanwhile(
        db,
        response,
        InvalidClient(),
        user_id=None,
        client_id=client.client_id,
        grant_id=None,
        granted_at=authenticated_at,
    )
