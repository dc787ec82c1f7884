"""OAuth clients: registration, secrets, and client authentication (RFC 6749 §2.3.1).

Secrets are stored only as bcrypt hashes (`secret_hashing`). Generated secrets are 256-bit
random values; an admin-chosen secret must be 24 to 72 bytes long.

Redirect URIs are https, except in dev mode (`allow_http_redirect_uris`): a code sent over
plain http can be read on the way (RFC 6749 §3.1.2.1). Permissions are
`introspect` and, once for each partner whose users' LWA tokens an app backend may use,
`partner_token:<partner id>`; a bare `partner_token` (every partner, as before) is refused.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from service.clock import utcnow
from service.db import Database
from service.models.oauth import (
    AUTHORIZATION_CODE,
    GRANT_TYPES,
    INTROSPECT,
    PARTNER_ID_PATTERN,
    PARTNER_TOKEN,
    REFRESH_POLICIES,
    REFRESH_TOKEN,
    REUSE,
    ClientCredentials,
    OAuthClient,
)
from service.oauth.errors import InvalidClient, TemporarilyUnavailable
from service.oauth.secret_hashing import (
    MAX_SECRET_BYTES,
    CheckerBusy,
    hash_secret_async,
    verify_secret,
)
from service.oauth.unlink import UnlinkHooks
from service.storage import audit, revocations, token_grants
from service.storage import authorization_codes as code_store
from service.storage import clients as client_store
from service.storage import grants as grant_store
from service.storage import tokens as token_store
from service.storage.clients import ClientExists as ClientExists  # re-exported for callers

MIN_SECRET_LENGTH = 24
CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9._~-]{3,128}$")
SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")  # RFC 6749 §3.3
PERMISSIONS = (INTROSPECT,)  # and partner_token:<partner id>, once per partner
_PARTNER_TOKEN_PERMISSION = re.compile(rf"{PARTNER_TOKEN}:{PARTNER_ID_PATTERN}")
# Ten years: longer lifetimes overflow the expiry date (a 500 at /oauth/token for every call)
# or Mongo's 8-byte integers; 0 still means a refresh token never expires.
MAX_TOKEN_TTL = 10 * 366 * 24 * 3600


class ClientConfigError(ValueError):
    """A client registration is invalid; the message says which value and why."""


def generate_secret() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def generate_client_id() -> str:
    return "client-" + secrets.token_hex(8)


def validate_client(client: OAuthClient, *, allow_http_redirect_uris: bool = False) -> OAuthClient:
    """Check a registration before it is stored; raises ClientConfigError."""
    if not CLIENT_ID_PATTERN.match(client.client_id):
        raise ClientConfigError("client_id must be 3-128 characters of A-Z a-z 0-9 . _ ~ -")
    if not client.name.strip():
        raise ClientConfigError("name must not be empty")
    unknown = client.grant_types - set(GRANT_TYPES)
    if unknown or not client.grant_types:
        raise ClientConfigError(f"grant types must be some of {', '.join(GRANT_TYPES)}")
    _check_redirect_uris(client, allow_http=allow_http_redirect_uris)
    for scope in client.scopes:
        if not SCOPE_TOKEN.match(scope):
            raise ClientConfigError(f"scope {scope!r} is not a valid scope token")
    _check_lifetimes(client)
    if client.refresh_policy not in REFRESH_POLICIES:
        raise ClientConfigError(f"refresh policy must be one of {', '.join(REFRESH_POLICIES)}")
    _check_permissions(client.permissions)
    return client


def _check_permissions(permissions: Iterable[str]) -> None:
    for permission in permissions:
        if permission == PARTNER_TOKEN:
            raise ClientConfigError(
                "the partner_token permission must name the partner: partner_token:<partner "
                "id>, once for each partner whose tokens the client may use"
            )
        if permission not in PERMISSIONS and not _PARTNER_TOKEN_PERMISSION.fullmatch(permission):
            raise ClientConfigError(
                f"permission {permission!r} is not one of {', '.join(PERMISSIONS)} or "
                "partner_token:<partner id>"
            )


def _check_redirect_uris(client: OAuthClient, *, allow_http: bool) -> None:
    schemes = ("https", "http") if allow_http else ("https",)
    for uri in client.redirect_uris:
        try:
            parts = urlsplit(uri)
        except ValueError:  # e.g. an unclosed "[" in the host
            parts = None
        if parts is not None and parts.scheme == "http" and not allow_http:
            raise ClientConfigError(
                f"redirect URI {uri!r} must be https (http only with ALS_ENV=dev)"
            )
        if parts is None or parts.scheme not in schemes or not parts.netloc or parts.fragment:
            raise ClientConfigError(
                f"redirect URI {uri!r} must be an absolute URL without fragment"
            )
    if AUTHORIZATION_CODE in client.grant_types and not client.redirect_uris:
        raise ClientConfigError("the authorization_code grant needs at least one redirect URI")


def _check_lifetimes(client: OAuthClient) -> None:
    if not 0 < client.access_token_ttl <= MAX_TOKEN_TTL:
        raise ClientConfigError(
            f"access token lifetime must be positive and at most {MAX_TOKEN_TTL} seconds"
        )
    if not 0 <= client.refresh_token_ttl <= MAX_TOKEN_TTL:
        raise ClientConfigError(
            "refresh token lifetime must be 0 (never expires) or positive, "
            f"and at most {MAX_TOKEN_TTL} seconds"
        )


def check_secret_strength(secret: str) -> None:
    if len(secret) < MIN_SECRET_LENGTH:
        raise ClientConfigError(f"a client secret must be at least {MIN_SECRET_LENGTH} characters")
    if len(secret.encode()) > MAX_SECRET_BYTES:
        raise ClientConfigError(f"a client secret must be at most {MAX_SECRET_BYTES} bytes")


def _build(
    client_id: str,
    secret_hash: str,
    created_at: datetime | None,
    *,
    name: str,
    redirect_uris: Iterable[str] = (),
    grant_types: Iterable[str] = (AUTHORIZATION_CODE, REFRESH_TOKEN),
    scopes: Iterable[str] = (),
    require_pkce: bool = False,
    access_token_ttl: int = 3600,
    refresh_token_ttl: int = 0,
    refresh_policy: str = REUSE,
    permissions: Iterable[str] = (),
    authorization_response_iss: bool = False,
    allow_http_redirect_uris: bool = False,
) -> OAuthClient:
    """The one place where client settings become a validated client. `allow_http_redirect_uris`
    comes from the settings (dev mode), not from the client."""
    return validate_client(
        OAuthClient(
            client_id=client_id,
            secret_hash=secret_hash,
            name=name.strip(),
            redirect_uris=tuple(dict.fromkeys(u.strip() for u in redirect_uris if u.strip())),
            grant_types=frozenset(grant_types),
            scopes=frozenset(scopes),
            require_pkce=require_pkce,
            access_token_ttl=access_token_ttl,
            refresh_token_ttl=refresh_token_ttl,
            refresh_policy=refresh_policy,
            permissions=frozenset(p.strip() for p in permissions if p.strip()),
            created_at=created_at,
            authorization_response_iss=authorization_response_iss,
        ),
        allow_http_redirect_uris=allow_http_redirect_uris,
    )


def settings_of(client: OAuthClient) -> dict[str, Any]:
    """A client's settings, as `register_client` and `update_client` take them."""
    return {
        "name": client.name,
        "redirect_uris": client.redirect_uris,
        "grant_types": client.grant_types,
        "scopes": client.scopes,
        "require_pkce": client.require_pkce,
        "access_token_ttl": client.access_token_ttl,
        "refresh_token_ttl": client.refresh_token_ttl,
        "refresh_policy": client.refresh_policy,
        "permissions": client.permissions,
        "authorization_response_iss": client.authorization_response_iss,
    }


async def register_client(
    db: Database,
    *,
    actor: str,
    client_id: str | None = None,
    secret: str | None = None,
    **settings: Any,
) -> tuple[OAuthClient, str]:
    """Store a new client (settings as `_build` takes them); returns it with its plaintext
    secret (shown this once only). `ClientConfigError` or `ClientExists` when refused."""
    if secret is not None:
        check_secret_strength(secret)
    plain = secret if secret is not None else generate_secret()
    secret_hash = await hash_secret_async(plain)
    client = _build(client_id or generate_client_id(), secret_hash, utcnow(), **settings)
    await client_store.insert(db, client)
    await audit.record(db, "client_created", actor=actor, client_id=client.client_id)
    return client, plain


async def update_client(
    db: Database, client_id: str, *, actor: str, **settings: Any
) -> OAuthClient | None:
    """Replace a client's settings (never its secret: a rotation made meanwhile stays); None
    when there is no such client."""
    current = await client_store.get(db, client_id)
    if current is None:
        return None
    client = _build(client_id, current.secret_hash, current.created_at, **settings)
    if not await client_store.replace(db, client):
        return None
    await audit.record(db, "client_updated", actor=actor, client_id=client_id)
    return client


async def rotate_secret(
    db: Database, client_id: str, secret: str | None = None, *, actor: str
) -> str | None:
    """A new secret for the client (the old one stops working at once); None if unknown."""
    if secret is not None:
        check_secret_strength(secret)
    plain = secret if secret is not None else generate_secret()
    if not await client_store.set_secret_hash(db, client_id, await hash_secret_async(plain)):
        return None
    await audit.record(db, "client_secret_rotated", actor=actor, client_id=client_id)
    return plain


async def remove_client(db: Database, hooks: UnlinkHooks, client_id: str, *, actor: str) -> bool:
    """Delete the client and everything it holds: its tokens stop working at once, its
    consents and codes are gone, and the unlink hooks run for each user who had linked it.

    The consents go last, after every user's hooks ran: they are the list of who had linked
    the client, so a removal that failed part-way (the database, a hook) is finished by
    removing the client again. True when there was anything to remove."""
    # Recorded first, so a token request of this client under way cannot keep what it issues.
    now = utcnow()
    await revocations.record_client_removal(db, client_id, now)
    linked = [g.user_id for g in await grant_store.list_for_client(db, client_id)]
    existed = await client_store.delete(db, client_id)
    await token_grants.revoke_client(db, client_id, now)
    await token_store.revoke_client(db, client_id)
    await code_store.delete_for_client(db, client_id)
    failure: Exception | None = None
    for user_id in linked:
        try:
            await hooks.run(db, user_id=user_id, client_id=client_id)
        except Exception as exc:  # the other users' clean-up still runs (the hooks log it)
            failure = failure or exc
    if failure is not None:
        raise failure  # the consents stay, naming whose clean-up a second removal must redo
    await grant_store.forget_client(db, client_id)
    if existed or linked:
        await audit.record(db, "client_removed", actor=actor, client_id=client_id)
    return existed or bool(linked)


async def get_client(db: Database, client_id: str) -> OAuthClient | None:
    return await client_store.get(db, client_id)


async def list_clients(db: Database) -> list[OAuthClient]:
    return await client_store.list_all(db)


# --- client authentication ------------------------------------------------------------------


class ClientDirectory:
    """Client registrations as the token endpoint reads them: from the database, remembered in
    this process for `ttl` seconds, so a refresh costs no read of the client. A change made
    elsewhere (another worker, the command line) takes effect here within `ttl`; `forget`
    makes a change made in this process take effect at once. `ttl` 0 reads every time."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._known: dict[str, tuple[float, OAuthClient, datetime]] = {}

    async def get(self, db: Database, client_id: str) -> OAuthClient | None:
        entry = self._known.get(client_id)
        if entry is not None and time.monotonic() - entry[0] < self.ttl:
            return entry[1]
        read_at = utcnow()
        client = await client_store.get(db, client_id)
        if client is None:
            self._known.pop(client_id, None)
        elif self.ttl > 0:
            if len(self._known) >= _MAX_REMEMBERED:
                self._known.clear()
            self._known[client_id] = (time.monotonic(), client, read_at)
        return client

    def read_at(self, client_id: str) -> datetime:
        """When the client's registration now in use was read (now, if it is not remembered):
        a revocation recorded after that time may not have been seen yet."""
        entry = self._known.get(client_id)
        return entry[2] if entry is not None else utcnow()

    def forget(self, client_id: str) -> None:
        self._known.pop(client_id, None)


_MAX_REMEMBERED = 10_000


async def authenticate_client(
    db: Database, clients: ClientDirectory, credentials: ClientCredentials
) -> OAuthClient:
    """The registered client the credentials prove, or `invalid_client` (the same answer for an
    unknown id and a wrong secret; an unknown id costs no hashing, as client ids are not
    secrets: they travel in every authorization URL)."""
    client = await clients.get(db, credentials.client_id)
    if client is None:
        raise InvalidClient()
    try:
        for candidate in credentials.secret_candidates:
            if await verify_secret(candidate, client.secret_hash):
                return client
    except CheckerBusy:
        raise TemporarilyUnavailable() from None
    raise InvalidClient()


def describe(client: OAuthClient) -> dict[str, Any]:
    """A client as shown to admins: everything but the secret hash."""
    return {
        "client_id": client.client_id,
        "name": client.name,
        "redirect_uris": list(client.redirect_uris),
        "grant_types": sorted(client.grant_types),
        "scopes": sorted(client.scopes),
        "require_pkce": client.require_pkce,
        "access_token_ttl": client.access_token_ttl,
        "refresh_token_ttl": client.refresh_token_ttl,
        "refresh_policy": client.refresh_policy,
        "permissions": sorted(client.permissions),
        "authorization_response_iss": client.authorization_response_iss,
        "created_at": client.created_at.isoformat() if client.created_at else None,
    }
