"""Types of the authorization server: clients, codes, tokens, consents, and who a token acts for."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

AUTHORIZATION_CODE = "authorization_code"
REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a grant type name
CLIENT_CREDENTIALS = "client_credentials"
GRANT_TYPES = (AUTHORIZATION_CODE, REFRESH_TOKEN, CLIENT_CREDENTIALS)

REUSE = "reuse"
ROTATE = "rotate"
REFRESH_POLICIES = (REUSE, ROTATE)

TokenKind = Literal["access", "refresh"]

# Permissions of a client: `introspect` (RFC 7662 for every token), and for each partner whose
# users' LWA tokens an app backend may use, `partner_token:<partner id>`.
INTROSPECT = "introspect"
PARTNER_TOKEN = "partner_token"  # noqa: S105 - a permission name
PARTNER_ID_PATTERN = r"[A-Za-z0-9._:@-]{1,128}"  # a partner id is one of our client ids


def partner_token_permission(partner_id: str) -> str:
    return f"{PARTNER_TOKEN}:{partner_id}"


@dataclass(frozen=True)
class OAuthClient:
    client_id: str
    secret_hash: str = field(repr=False)
    name: str
    redirect_uris: tuple[str, ...] = ()
    grant_types: frozenset[str] = frozenset({AUTHORIZATION_CODE, REFRESH_TOKEN})
    scopes: frozenset[str] = frozenset()
    require_pkce: bool = False
    access_token_ttl: int = 3600
    refresh_token_ttl: int = 0  # 0: refresh tokens never expire (what Alexa copes with best)
    refresh_policy: str = REUSE
    permissions: frozenset[str] = frozenset()
    created_at: datetime | None = None
    # RFC 9207: authorization responses carry `iss` (our issuer) for this client.
    authorization_response_iss: bool = False

    def check_redirect_uri(self, uri: str) -> bool:
        """Exact string match against the registered URIs (RFC 6749 §3.1.2.3, no prefix rules)."""
        return uri in self.redirect_uris

    def allows_grant(self, grant_type: str) -> bool:
        return grant_type in self.grant_types

    def unknown_scopes(self, scopes: frozenset[str]) -> frozenset[str]:
        return scopes - self.scopes

    def has_permission(self, permission: str) -> bool:
        return permission in self.permissions

    @property
    def partner_ids(self) -> frozenset[str]:
        """The partners whose users' LWA tokens this client (an app backend) may use."""
        prefix = PARTNER_TOKEN + ":"
        return frozenset(p[len(prefix) :] for p in self.permissions if p.startswith(prefix))

    def may_use_partner(self, partner_id: str) -> bool:
        return partner_token_permission(partner_id) in self.permissions


@dataclass(frozen=True)
class AuthorizationCode:
    """One issued code, looked up by the SHA-256 of its value (the value itself is never stored)."""

    code_hash: str
    client_id: str
    redirect_uri: str | None  # as sent to /oauth/authorize (None when it was omitted)
    user_id: str
    username: str
    scopes: frozenset[str]
    code_challenge: str | None
    code_challenge_method: str | None
    grant_id: str  # every token this code produces carries it
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Token:
    """An access or refresh token, looked up by the SHA-256 of its value."""

    token_hash: str
    kind: TokenKind
    client_id: str
    user_id: str | None  # None for client_credentials tokens
    username: str | None
    scopes: frozenset[str]
    grant_id: str | None  # links everything one authorization produced
    issued_at: datetime
    expires_at: datetime | None  # None: never expires (refresh tokens with ttl 0)
    revoked: bool = False
    previous: str | None = None  # rotation: hash of the refresh token this one succeeded

    def active(self, now: datetime) -> bool:
        return not self.revoked and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True)
class Grant:
    """A remembered consent: the user allowed the client these scopes (the account page)."""

    user_id: str
    username: str
    client_id: str
    scopes: frozenset[str]
    granted_at: datetime
    updated_at: datetime
    email: str | None = None  # as Keycloak said at the user's last consent or login
    active_at: datetime | None = None  # the last consent or login: the admin list's order


@dataclass(frozen=True)
class AccessContext:
    """What a valid access token stands for (RFC 6750): the user it acts for and its client."""

    user_id: str | None  # Keycloak sub; None for client_credentials tokens
    username: str | None
    client_id: str
    scopes: frozenset[str]
    grant_id: str | None  # the authorization it came from
    expires_at: datetime
    issued_at: datetime


AuthMethod = Literal["client_secret_basic", "client_secret_post"]


@dataclass(frozen=True)
class ClientCredentials:
    """What a client presented to authenticate itself (RFC 6749 §2.3.1)."""

    client_id: str
    # Candidate readings of the secret: the RFC 6749 §2.3.1 form-decoded one first, then the
    # raw one for clients that skip the form-encoding (their `+` would otherwise become a space).
    secret_candidates: tuple[str, ...] = field(repr=False)
    method: AuthMethod = "client_secret_post"


@dataclass(frozen=True)
class TokenGrant:
    """The state of one authorization, shared by every token it produced: a code exchange for a
    user (`grant_id` = the code's grant id), or a client's own client_credentials grant
    (`grant_id` = "client:<client id>", user None). Tokens carry only the grant id under a MAC
    (`service.oauth.token_format`), so revoking the grant ends all of them at their next use."""

    grant_id: str
    client_id: str
    user_id: str | None
    username: str | None
    scopes: frozenset[str]
    created_at: datetime
    revoked_at: datetime | None = None
    access_revoked_before: datetime | None = None  # RFC 7009 revocation of an access token

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def accepts(self, kind: TokenKind, issued_at: datetime) -> bool:
        """Whether a token of this grant issued at `issued_at` may still be used."""
        if self.revoked_at is not None or issued_at < self.created_at:
            return False
        cutoff = self.access_revoked_before
        return kind == "refresh" or cutoff is None or issued_at >= cutoff


@dataclass(frozen=True)
class TokenClaims:
    """What one of our tokens says about itself, once its MAC checked out."""

    grant_id: str
    kind: TokenKind
    generation: int  # refresh rotation: which generation of the grant's refresh token
    issued_at: datetime
    expires_at: datetime | None  # None: never expires (refresh tokens with ttl 0)
    scopes: frozenset[str] | None = None  # None: the grant's; an access token may be narrower
    nonce: str = ""  # the token's own random part (set when minted): tells siblings apart

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now
