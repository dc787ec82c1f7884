"""OAuth clients: registration, secrets, and client authentication (RFC 6749 §2.3.1).

Secrets are stored only as bcrypt hashes (`secret_hashing`). Generated secrets are 256-bit
random values; an admin-chosen secret must be 24 to 72 bytes long.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import unquote_plus, urlsplit

from service.db import Database
from service.oauth.errors import InvalidClient, InvalidRequest, TemporarilyUnavailable
from service.oauth.models import (
    AUTHORIZATION_CODE,
    GRANT_TYPES,
    REFRESH_POLICIES,
    REUSE,
)
from service.oauth.models import OAuthClient as OAuthClient  # re-exported: the client model
from service.oauth.secret_hashing import (
    MAX_SECRET_BYTES,
    CheckerBusy,
    hash_secret_async,
    verify_secret,
)
from service.oauth.unlink import run_unlink_hooks
from service.storage import authorization_codes as code_store
from service.storage import clients as client_store
from service.storage import grants as grant_store
from service.storage import revocations
from service.storage import tokens as token_store

MIN_SECRET_LENGTH = 24
CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9._~-]{3,128}$")
SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")  # RFC 6749 §3.3
PERMISSIONS = ("partner_token", "introspect")
# Ten years: longer lifetimes overflow the expiry date (a 500 at /oauth/token for every call)
# or Mongo's 8-byte integers; 0 still means a refresh token never expires.
MAX_TOKEN_TTL = 10 * 366 * 24 * 3600

AuthMethod = Literal["client_secret_basic", "client_secret_post"]


class ClientConfigError(ValueError):
    """A client registration is invalid; the message says which value and why."""


def generate_secret() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def generate_client_id() -> str:
    return "client-" + secrets.token_hex(8)


def validate_client(client: OAuthClient) -> OAuthClient:
    """Check a registration before it is stored; raises ClientConfigError."""
    if not CLIENT_ID_PATTERN.match(client.client_id):
        raise ClientConfigError("client_id must be 3-128 characters of A-Z a-z 0-9 . _ ~ -")
    if not client.name.strip():
        raise ClientConfigError("name must not be empty")
    unknown = client.grant_types - set(GRANT_TYPES)
    if unknown or not client.grant_types:
        raise ClientConfigError(f"grant types must be some of {', '.join(GRANT_TYPES)}")
    for uri in client.redirect_uris:
        try:
            parts = urlsplit(uri)
        except ValueError:  # e.g. an unclosed "[" in the host
            parts = None
        if (
            parts is None
            or parts.scheme not in ("https", "http")
            or not parts.netloc
            or parts.fragment
        ):
            raise ClientConfigError(
                f"redirect URI {uri!r} must be an absolute URL without fragment"
            )
    if AUTHORIZATION_CODE in client.grant_types and not client.redirect_uris:
        raise ClientConfigError("the authorization_code grant needs at least one redirect URI")
    for scope in client.scopes:
        if not SCOPE_TOKEN.match(scope):
            raise ClientConfigError(f"scope {scope!r} is not a valid scope token")
    if not 0 < client.access_token_ttl <= MAX_TOKEN_TTL:
        raise ClientConfigError(
            f"access token lifetime must be positive and at most {MAX_TOKEN_TTL} seconds"
        )
    if not 0 <= client.refresh_token_ttl <= MAX_TOKEN_TTL:
        raise ClientConfigError(
            "refresh token lifetime must be 0 (never expires) or positive, "
            f"and at most {MAX_TOKEN_TTL} seconds"
        )
    if client.refresh_policy not in REFRESH_POLICIES:
        raise ClientConfigError(f"refresh policy must be one of {', '.join(REFRESH_POLICIES)}")
    unknown = client.permissions - set(PERMISSIONS)
    if unknown:
        raise ClientConfigError(f"permissions must be some of {', '.join(PERMISSIONS)}")
    return client


def check_secret_strength(secret: str) -> None:
    if len(secret) < MIN_SECRET_LENGTH:
        raise ClientConfigError(f"a client secret must be at least {MIN_SECRET_LENGTH} characters")
    if len(secret.encode()) > MAX_SECRET_BYTES:
        raise ClientConfigError(f"a client secret must be at most {MAX_SECRET_BYTES} bytes")


async def register_client(
    db: Database,
    *,
    name: str,
    redirect_uris: Iterable[str] = (),
    grant_types: Iterable[str] = (AUTHORIZATION_CODE, "refresh_token"),
    scopes: Iterable[str] = (),
    require_pkce: bool = False,
    access_token_ttl: int = 3600,
    refresh_token_ttl: int = 0,
    refresh_policy: str = REUSE,
    permissions: Iterable[str] = (),
    client_id: str | None = None,
    secret: str | None = None,
) -> tuple[OAuthClient, str]:
    """Store a new client; returns it with its plaintext secret (shown this once only)."""
    if secret is not None:
        check_secret_strength(secret)
    plain = secret if secret is not None else generate_secret()
    client = validate_client(
        OAuthClient(
            client_id=client_id or generate_client_id(),
            secret_hash=await hash_secret_async(plain),
            name=name,
            redirect_uris=tuple(dict.fromkeys(redirect_uris)),
            grant_types=frozenset(grant_types),
            scopes=frozenset(scopes),
            require_pkce=require_pkce,
            access_token_ttl=access_token_ttl,
            refresh_token_ttl=refresh_token_ttl,
            refresh_policy=refresh_policy,
            permissions=frozenset(permissions),
            created_at=datetime.now(UTC),
        )
    )
    await client_store.insert(db, client)
    return client, plain


async def update_client(db: Database, client: OAuthClient) -> bool:
    return await client_store.replace(db, validate_client(client))


async def rotate_secret(db: Database, client_id: str, secret: str | None = None) -> str | None:
    """A new secret for the client (the old one stops working at once); None if unknown."""
    if secret is not None:
        check_secret_strength(secret)
    plain = secret if secret is not None else generate_secret()
    if not await client_store.set_secret_hash(db, client_id, await hash_secret_async(plain)):
        return None
    return plain


async def remove_client(db: Database, client_id: str) -> bool:
    """Delete the client and everything it holds: its tokens stop working at once, its
    consents and codes are gone, and the unlink hooks run for each user who had linked it."""
    # Recorded first, so a token request of this client under way cannot keep what it issues.
    await revocations.record_client_removal(db, client_id, datetime.now(UTC))
    linked = [g.user_id for g in await grant_store.list_for_client(db, client_id)]
    existed = await client_store.delete(db, client_id)
    await token_store.revoke_client(db, client_id)
    await code_store.delete_for_client(db, client_id)
    await grant_store.forget_client(db, client_id)
    for user_id in linked:
        await run_unlink_hooks(db, user_id=user_id, client_id=client_id)
    return existed


def with_changes(client: OAuthClient, **changes: object) -> OAuthClient:
    return replace(client, **changes)  # type: ignore[arg-type]


# --- client authentication ------------------------------------------------------------------


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    # Candidate readings of the secret: the RFC 6749 §2.3.1 form-decoded one first, then the
    # raw one for clients that skip the form-encoding (their `+` would otherwise become a space).
    secret_candidates: tuple[str, ...] = field(repr=False)
    method: AuthMethod = "client_secret_post"


def read_credentials(authorization: str | None, params: Mapping[str, str]) -> ClientCredentials:
    """Client credentials from an HTTP Basic header or from body fields, never both.

    authlib's `extract_basic_authorization` is not used: it raises UnicodeDecodeError on
    non-UTF-8 input and percent-decodes without turning `+` into a space.
    """
    basic = _parse_basic(authorization) if authorization else None
    if basic is not None:
        raw_id, raw_secret = basic
        client_id = unquote_plus(raw_id)  # §2.3.1: form-encoded before base64
        if "client_secret" in params:
            raise InvalidRequest("Use one client authentication method, not Basic and the body.")
        if params.get("client_id", client_id) != client_id:
            raise InvalidRequest("client_id in the body differs from the Basic credentials.")
        candidates = tuple(dict.fromkeys((unquote_plus(raw_secret), raw_secret)))
        return ClientCredentials(client_id, candidates, "client_secret_basic")
    body_id = params.get("client_id")
    secret = params.get("client_secret")
    if body_id is None or secret is None:
        raise InvalidClient("Client authentication is missing.")
    return ClientCredentials(body_id, (secret,), "client_secret_post")


def _parse_basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None  # another scheme is not client authentication; the body may carry it
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # also non-ASCII input, and UnicodeDecodeError
        raise InvalidClient("The Basic credentials are malformed.") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id:
        raise InvalidClient("The Basic credentials are malformed.")
    return client_id, secret


async def authenticate_client(db: Database, credentials: ClientCredentials) -> OAuthClient:
    """The registered client the credentials prove, or `invalid_client` (the same answer for an
    unknown id and a wrong secret; an unknown id costs no hashing, as client ids are not
    secrets: they travel in every authorization URL)."""
    client = await client_store.get(db, credentials.client_id)
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
        "created_at": client.created_at.isoformat() if client.created_at else None,
    }
