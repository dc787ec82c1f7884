"""The token endpoint's grants (RFC 6749 §4.1.3, §4.4, §6; PKCE per RFC 7636 §4.6).

`handle_token_request` takes the client's credentials and the form parameters and returns a
`TokenResponse` or raises an `OAuthError`; the handler only renders.

State is kept per grant, not per token (`storage.token_grants`): a code exchange creates the
grant, and every token is minted bound to it under a MAC (`token_format`), so nothing is
written per token (with ALS_REFRESH_TOKEN_IDLE_DAYS set, a refresh notes its grant's last use,
at most once a day). A refresh with the `reuse` policy is a check of the MAC, one read of the
grant and the minting of an access token, and returns the presented refresh token (Amazon's
rule that an old refresh token must not die the moment a new one is issued). With `rotate` a
new refresh token is issued; the presented one stays valid until its successor is first used
(`token_grants.advance`). Tokens from before this design (stored as hashes in `tokens`) keep
working; a refresh token of them becomes a grant on its first use (`_legacy_grant`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from service.clock import utcnow
from service.models.oauth import (
    AUTHORIZATION_CODE,
    GRANT_TYPES,
    REFRESH_TOKEN,
    ROTATE,
    AuthorizationCode,
    ClientCredentials,
    OAuthClient,
    TokenClaims,
    TokenGrant,
)
from service.oauth import pkce, scopes, token_format
from service.oauth.clients import authenticate_client
from service.oauth.deps import OAuthDeps
from service.oauth.errors import (
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from service.oauth.token_values import new_grant_id, secret_hash
from service.storage import audit, revocations, token_grants
from service.storage import authorization_codes as code_store
from service.storage import tokens as legacy_tokens

log = logging.getLogger(__name__)

BAD_CODE = "The authorization code is invalid, expired, already used or not issued to you."
BAD_REFRESH = "The refresh token is invalid, expired, revoked or not issued to you."
# With idle expiry on, a grant's last use is written at most this often (or a quarter of the
# idle time, if shorter): the expiry is that coarse, and a refresh writes nothing otherwise.
USE_RECORD_INTERVAL = timedelta(days=1)


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


def _now() -> datetime:
    return token_format.minted_at_precision(utcnow())


def mint_access(
    deps: OAuthDeps,
    client: OAuthClient,
    grant: TokenGrant,
    scope: frozenset[str],
    now: datetime,
    *,
    name_scope: bool = False,
) -> str:
    """An access token of `grant`; it names its scope when narrower than the grant's, or
    always with `name_scope`."""
    return token_format.mint(
        deps.keyring,
        TokenClaims(
            grant_id=grant.grant_id,
            kind="access",
            generation=0,
            issued_at=now,
            expires_at=now + timedelta(seconds=client.access_token_ttl),
            scopes=scope if name_scope or scope != grant.scopes else None,
        ),
    )


def mint_refresh(
    deps: OAuthDeps, client: OAuthClient, grant: TokenGrant, generation: int, now: datetime
) -> str:
    ttl = client.refresh_token_ttl
    return token_format.mint(
        deps.keyring,
        TokenClaims(
            grant_id=grant.grant_id,
            kind="refresh",
            generation=generation,
            issued_at=now,
            expires_at=now + timedelta(seconds=ttl) if ttl else None,
        ),
    )


def issue(
    deps: OAuthDeps,
    client: OAuthClient,
    grant: TokenGrant,
    *,
    scope: frozenset[str],
    with_refresh: bool,
    now: datetime | None = None,
) -> TokenResponse:
    """The tokens of a new grant (or of a grant just taken over from stored tokens)."""
    now = now or _now()
    refresh = mint_refresh(deps, client, grant, 0, now) if with_refresh else None
    access = mint_access(deps, client, grant, scope, now)
    return TokenResponse(access, client.access_token_ttl, scope, refresh)


async def handle_token_request(
    deps: OAuthDeps, credentials: ClientCredentials, params: Mapping[str, str]
) -> TokenResponse:
    grant_type = required(params, "grant_type")
    if grant_type not in GRANT_TYPES:
        raise UnsupportedGrantType(f"Grant type {grant_type[:40]} is not supported.")
    client = await authenticate_client(deps.db, deps.clients, credentials)
    if not client.allows_grant(grant_type):
        raise UnauthorizedClient()
    if grant_type == AUTHORIZATION_CODE:
        return await exchange_code(deps, client, params)
    if grant_type == REFRESH_TOKEN:
        return await refresh(deps, client, params)
    return await client_credentials(deps, client, params)


# --- authorization_code ---------------------------------------------------------------------


async def exchange_code(
    deps: OAuthDeps, client: OAuthClient, params: Mapping[str, str]
) -> TokenResponse:
    db = deps.db
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
        if await token_grants.get(db, code.grant_id) is not None:
            await _replayed(deps, code)
            raise InvalidGrant(BAD_CODE)
        raise refusal
    # The code's grant is made first (the after-check below needs it stored), and the answer
    # is recorded last (`mark_answered`), an insert that exactly one of any number of
    # concurrent exchanges wins (an insert is atomic on MongoDB and FerretDB alike). A grant
    # that exists without an answer is an exchange the database failed part-way (Alexa got a
    # 503): its client may try again while the code lives, and gets the tokens then.
    now = _now()
    grant, created = await token_grants.insert(
        db,
        TokenGrant(
            grant_id=code.grant_id,
            client_id=client.client_id,
            user_id=code.user_id,
            username=code.username,
            scopes=code.scopes,
            created_at=now,
        ),
    )
    if not created and (not grant.active or await code_store.answered(db, code_hash)):
        await _replayed(deps, code)  # used before, or revoked: a replay
        raise InvalidGrant(BAD_CODE)
    # From here a failed check spends the code: a wrong verifier or redirect URI cannot be
    # retried against the same code.
    try:
        _check_redirect_uri(client, code, params.get("redirect_uri"))
        pkce.verify(code.code_challenge, code.code_challenge_method, params.get("code_verifier"))
    except InvalidGrant:
        await token_grants.revoke(db, grant.grant_id, utcnow())
        raise
    # The one after-check left: a new grant may be stored after an unlink or a client removal
    # revoked the user's grants, so it looks whether one happened since the code was issued.
    # (A replay of the code, now or later, revokes this grant: the tokens die with it.)
    if await revocations.revoked_since(
        db,
        user_id=code.user_id,
        client_id=client.client_id,
        grant_id=None,
        granted_at=code.created_at,
    ):
        await token_grants.revoke(db, grant.grant_id, utcnow())
        raise InvalidGrant(BAD_CODE)
    answer = issue(
        deps,
        client,
        grant,
        scope=code.scopes,
        with_refresh=client.allows_grant(REFRESH_TOKEN),
        now=now,
    )
    if deps.refresh_idle is not None:  # idle time counts from the link (one write per link)
        await token_grants.record_use(db, grant.grant_id, now)
    # RFC 6749 §4.1.2, §10.5: one answer per code. Of exchanges racing each other, one wins
    # this insert and the others are replays (the grant is revoked: the winner's tokens die
    # too, as with any replay). Should this very write fail after the server applied it, the
    # client's retry is taken for a replay: a loss limited to that one write's failure.
    if not await code_store.mark_answered(db, code, now):
        await _replayed(deps, code)
        raise InvalidGrant(BAD_CODE)
    return answer


def _check_redirect_uri(client: OAuthClient, code: AuthorizationCode, sent: str | None) -> None:
    # RFC 6749 §4.1.3: required and identical if it was part of the authorization request.
    if code.redirect_uri is not None:
        if sent != code.redirect_uri:
            raise InvalidGrant("redirect_uri does not match the authorization request.")
    elif sent is not None and not client.check_redirect_uri(sent):
        raise InvalidGrant("redirect_uri is not registered for this client.")


async def _replayed(deps: OAuthDeps, code: AuthorizationCode) -> None:
    """RFC 6749 §4.1.2: a code used twice revokes every token issued from it."""
    db = deps.db
    await revocations.record_grant(db, code.grant_id, utcnow())
    await token_grants.revoke(db, code.grant_id, utcnow())
    revoked = await legacy_tokens.revoke_grant(db, code.grant_id)
    log.warning(
        "authorization code replayed for client %s; revoked grant %s",
        code.client_id,
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


# --- refresh_token --------------------------------------------------------------------------


async def refresh(deps: OAuthDeps, client: OAuthClient, params: Mapping[str, str]) -> TokenResponse:
    value = required(params, "refresh_token")
    now = _now()
    if token_format.is_minted(value):
        claims = token_format.read(deps.keyring, value)
        if claims is None or claims.kind != "refresh" or claims.expired(now):
            raise InvalidGrant(BAD_REFRESH)
        grant = await token_grants.get(deps.db, claims.grant_id)
        generation, minted_now = claims.generation, False
    else:
        grant, claims = await _legacy_grant(deps, client, value), None
        generation, minted_now = 0, True
    if (
        grant is None
        or grant.client_id != client.client_id
        or not grant.accepts("refresh", grant.created_at if claims is None else claims.issued_at)
    ):
        raise InvalidGrant(BAD_REFRESH)
    await _note_use(deps, grant, now)
    requested = scopes.parse(params.get("scope")) or grant.scopes
    if not requested <= grant.scopes:
        raise InvalidScope("The requested scope exceeds what was granted.")
    # RFC 6749 §6: a narrower `scope` narrows the access token only; the refresh token keeps
    # the grant's scope, or the narrowing would be permanent.
    access = mint_access(deps, client, grant, requested, now)
    if client.refresh_policy == ROTATE:
        nonce = "" if claims is None else claims.nonce
        rotation = await token_grants.rotation(deps.db, grant.grant_id)
        if not rotation.accepts(generation, nonce):
            raise InvalidGrant(BAD_REFRESH)  # a successor of it was used: it is retired
        if generation == rotation.current:
            await token_grants.advance(deps.db, grant.grant_id, generation, nonce)
        refresh_token = mint_refresh(deps, client, grant, generation + 1, now)
    elif minted_now or not value.startswith(f"{token_format.PREFIX}.{deps.keyring.primary_kid}."):
        # A stored (legacy) token, or one signed with a key that is on its way out of the ring:
        # the client gets one it can keep using after that key is gone; the presented one
        # still works meanwhile.
        refresh_token = mint_refresh(deps, client, grant, generation, now)
    else:
        refresh_token = value
    return TokenResponse(access, client.access_token_ttl, requested, refresh_token)


async def _note_use(deps: OAuthDeps, grant: TokenGrant, now: datetime) -> None:
    """RFC 9700 §4.14.2, with ALS_REFRESH_TOKEN_IDLE_DAYS set: a refresh token unused that long
    has expired (its grant is revoked, ending its access tokens too); a use is noted when the
    last one noted is older than USE_RECORD_INTERVAL. Off (the default): nothing is read or
    written."""
    idle = deps.refresh_idle
    if idle is None:
        return
    last = await token_grants.last_used(deps.db, grant.grant_id) or grant.created_at
    if now - last > idle:
        await token_grants.revoke(deps.db, grant.grant_id, utcnow())
        log.info("refresh token of grant %s unused since %s: expired", grant.grant_id, last)
        raise InvalidGrant(BAD_REFRESH)
    if now - last >= min(USE_RECORD_INTERVAL, idle / 4):
        await token_grants.record_use(deps.db, grant.grant_id, now)


async def _legacy_grant(deps: OAuthDeps, client: OAuthClient, value: str) -> TokenGrant | None:
    """The grant of a refresh token stored as a hash before grants held the state: made from
    the token on its first use (then checked against an unlink or client removal that may
    have run meanwhile, as every new grant is), found on later ones."""
    token = await legacy_tokens.get(deps.db, secret_hash(value))
    if (
        token is None
        or token.kind != "refresh"
        or token.client_id != client.client_id
        or not token.active(utcnow())
    ):
        return None
    grant, created = await token_grants.insert(
        deps.db,
        TokenGrant(
            grant_id=token.grant_id or new_grant_id(),
            client_id=token.client_id,
            user_id=token.user_id,
            username=token.username,
            scopes=token.scopes,
            created_at=token_format.minted_at_precision(token.issued_at),
        ),
    )
    if created and await revocations.revoked_since(
        deps.db,
        user_id=token.user_id,
        client_id=token.client_id,
        grant_id=token.grant_id,
        granted_at=token.issued_at,
    ):
        await token_grants.revoke(deps.db, grant.grant_id, utcnow())
        return None
    return grant


# --- client_credentials ---------------------------------------------------------------------


def client_grant_id(client: OAuthClient) -> str:
    """The grant a client's own tokens belong to: one per registration of the client id."""
    registered = client.created_at or datetime.min
    return f"client:{client.client_id}:{int(registered.timestamp() * 1000)}"


async def client_credentials(
    deps: OAuthDeps, client: OAuthClient, params: Mapping[str, str]
) -> TokenResponse:
    requested = scopes.parse(params.get("scope")) or client.scopes
    unknown = client.unknown_scopes(requested)
    if unknown:
        raise InvalidScope(f"Scope not allowed for this client: {scopes.render(unknown)}.")
    now = _now()
    grant = await token_grants.get(deps.db, client_grant_id(client))
    if grant is None:
        grant, created = await token_grants.insert(
            deps.db,
            TokenGrant(
                grant_id=client_grant_id(client),
                client_id=client.client_id,
                user_id=None,
                username=None,
                scopes=client.scopes,
                created_at=now,
            ),
        )
        # A new grant: the client may have been removed since its registration was read.
        if created and await revocations.revoked_since(
            deps.db,
            user_id=None,
            client_id=client.client_id,
            grant_id=None,
            granted_at=deps.clients.read_at(client.client_id),
        ):
            await token_grants.revoke(deps.db, grant.grant_id, utcnow())
            raise InvalidClient()
    if not grant.active:
        raise InvalidClient()
    # RFC 6749 §4.4.3: no refresh token; the token acts for the client, not for a user. It
    # names its scope: the client's scopes may change after its grant was made.
    access = mint_access(deps, client, grant, requested, now, name_scope=True)
    return TokenResponse(access, client.access_token_ttl, requested, None)
