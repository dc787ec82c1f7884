"""The OAuth errors (RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3.1; RFC 7009 §2.2.1).

One class per error code, each a `ServiceError`: the error middleware renders it as the §5.2
JSON answer (with the challenge its `headers()` give), and the authorize endpoint sends it back
to the client as a redirect carrying `error` and the unchanged `state` (§4.1.2.1).
"""

from __future__ import annotations

import re

from service.errors import NO_STORE, ServiceError
from service.oauth.redirect_uri import with_params

# RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E.
_NOT_ALLOWED = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")
BASIC_REALM = 'Basic realm="oauth"'
BEARER_REALM = 'Bearer realm="alexa-linking"'


class OAuthError(ServiceError):
    status = 400

    @classmethod
    def clean(cls, description: str) -> str:
        # RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E.
        return _NOT_ALLOWED.sub("'", description)

    def redirect_location(
        self, redirect_uri: str, state: str | None, issuer: str | None = None
    ) -> str:
        """Where to send the browser back to the client (RFC 6749 §4.1.2.1), with `iss` when
        the client wants it (RFC 9207 §2)."""
        params = [(k, str(v)) for k, v in self.body().items()]
        if state is not None:
            params.append(("state", state))
        if issuer is not None:
            params.append(("iss", issuer))
        return with_params(redirect_uri, params)


class InvalidRequest(OAuthError):
    error = "invalid_request"


class InvalidClient(OAuthError):
    """Client authentication failed. Always 401 with a `WWW-Authenticate: Basic` challenge:
    RFC 6749 §5.2 requires it when Basic was used, and a 401 without a challenge is not valid
    HTTP (RFC 9110 §15.5.2), so body-credential failures get the same answer."""

    error = "invalid_client"
    status = 401
    default_description = "Client authentication failed."

    def headers(self) -> dict[str, str]:
        return {**NO_STORE, "WWW-Authenticate": f'{BASIC_REALM}, error="invalid_client"'}


class InvalidGrant(OAuthError):
    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"
    default_description = "This client may not use this grant type."


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class AccessDenied(OAuthError):
    error = "access_denied"
    default_description = "The user denied the request."


class LoginRequired(OAuthError):
    """`prompt=none` and nobody is logged in (OpenID Connect Core 1.0 §3.1.2.6)."""

    error = "login_required"
    default_description = "The user is not logged in."


class ConsentRequired(OAuthError):
    """`prompt=none` and the request needs the user's consent (OpenID Connect Core 1.0
    §3.1.2.6)."""

    error = "consent_required"
    default_description = "The user has to allow this app first."


class UnsupportedResponseType(OAuthError):
    error = "unsupported_response_type"


class UnsupportedTokenType(OAuthError):
    error = "unsupported_token_type"


class ServerError(OAuthError):
    error = "server_error"
    status = 500
    default_description = "The server could not handle the request. Please try again."


class TemporarilyUnavailable(OAuthError):
    """Too busy to check client credentials right now (RFC 6749 §4.1.2.1 names the code)."""

    error = "temporarily_unavailable"
    status = 503
    default_description = "The server is busy. Please try again shortly."

    def headers(self) -> dict[str, str]:
        return {**NO_STORE, "Retry-After": "1"}


class InvalidToken(OAuthError):
    """RFC 6750 §3.1: the access token is missing, unknown, expired or revoked. Without a token
    at all (`token_sent=False`) the challenge carries no error code (§3.1)."""

    error = "invalid_token"
    status = 401
    default_description = "The access token is invalid, expired or revoked."

    def __init__(self, description: str | None = None, *, token_sent: bool = True) -> None:
        super().__init__(description)
        self.token_sent = token_sent

    def headers(self) -> dict[str, str]:
        challenge = BEARER_REALM
        if self.token_sent:
            challenge += f', error="invalid_token", error_description="{self.description}"'
        return {**NO_STORE, "WWW-Authenticate": challenge}


class InsufficientScope(OAuthError):
    """RFC 6750 §3.1: the token is valid but may not do this."""

    error = "insufficient_scope"
    status = 403

    def headers(self) -> dict[str, str]:
        return {**NO_STORE, "WWW-Authenticate": f'{BEARER_REALM}, error="insufficient_scope"'}


class UntrustedRedirect(ServiceError):
    """Unknown client or unregistered redirect URI at the authorization endpoint: an error page,
    never a redirect (RFC 6749 §4.1.2.1), or we would be an open redirector."""

    error = "invalid_request"
    status = 400
