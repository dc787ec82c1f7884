"""The OAuth error hierarchy (RFC 6749 §4.1.2.1, §5.2; RFC 7009 §2.2.1).

One class per error code. An error renders itself either as the §5.2 JSON answer of the token,
revocation and introspection endpoints, or as a redirect back to the client carrying `error`
and the unchanged `state` (§4.1.2.1). Errors become responses in exactly two places:
`service.web.oauth_views.oauth_json` (JSON endpoints) and the authorize handler (redirects).
"""

from __future__ import annotations

import re
from typing import ClassVar

from aiohttp import web

from service.oauth.redirect_uri import with_params

# RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E.
_NOT_ALLOWED = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
BASIC_REALM = 'Basic realm="oauth"'


class OAuthError(Exception):
    error: ClassVar[str] = "server_error"
    status: ClassVar[int] = 400
    default_description: ClassVar[str] = ""

    def __init__(self, description: str | None = None) -> None:
        text = description if description is not None else self.default_description
        self.description = _NOT_ALLOWED.sub("'", text)
        super().__init__(f"{self.error}: {self.description}")

    def body(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body

    def headers(self) -> dict[str, str]:
        return dict(NO_STORE)

    def as_response(self) -> web.Response:
        """The JSON answer (RFC 6749 §5.2)."""
        return web.json_response(self.body(), status=self.status, headers=self.headers())

    def redirect_location(self, redirect_uri: str, state: str | None) -> str:
        """Where to send the browser back to the client (RFC 6749 §4.1.2.1)."""
        params = list(self.body().items())
        if state is not None:
            params.append(("state", state))
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
