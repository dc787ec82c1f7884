"""The errors of mutual linking: each knows its HTTP status and its JSON body.

Codes follow RFC 6749 §5.2 / RFC 6750 §3.1 where a standard one fits (the reciprocal endpoint
speaks OAuth to Alexa); the rest are ours and named for what the caller should do. Messages
never contain tokens, codes or secrets.
"""

from __future__ import annotations

from typing import Any, ClassVar


class LinkingError(Exception):
    status: ClassVar[int] = 400
    error: ClassVar[str] = "invalid_request"

    def __init__(self, description: str, **details: Any) -> None:
        super().__init__(description)
        self.description = description
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "error_description": self.description, **self.details}

    @property
    def http_status(self) -> int:
        return self.status


class InvalidRequest(LinkingError):
    pass


class UnsupportedGrantType(LinkingError):
    error = "unsupported_grant_type"


class InvalidClient(LinkingError):
    error = "invalid_client"


class InvalidGrant(LinkingError):
    error = "invalid_grant"


class InvalidToken(LinkingError):
    status = 401
    error = "invalid_token"


class InsufficientPermission(LinkingError):
    status = 403
    error = "insufficient_scope"


class PartnerNotFound(LinkingError):
    status = 404
    error = "partner_not_found"


class LinkNotFound(LinkingError):
    status = 404
    error = "link_not_found"


class LinkRevoked(LinkingError):
    """Login with Amazon no longer accepts the link's refresh token, or it was unlinked."""

    status = 409
    error = "link_revoked"


class LinkInactive(LinkingError):
    """Alexa answered 403 (skill disabled or permission withdrawn); the tokens are gone."""

    status = 409
    error = "link_inactive"


class LwaRefused(LinkingError):
    """LWA refused a refresh for a reason other than a dead grant (e.g. our client secret)."""

    status = 502
    error = "lwa_refused"


class LwaUnreachable(LinkingError):
    status = 503
    error = "temporarily_unavailable"


class AlexaRejected(LinkingError):
    """Alexa answered with an error we pass on; `status` is set per instance."""

    error = "alexa_rejected"

    def __init__(self, description: str, *, status: int, **details: Any) -> None:
        super().__init__(description, **details)
        self._status = status

    @property
    def http_status(self) -> int:
        return self._status


class AlexaUnreachable(LinkingError):
    status = 503
    error = "alexa_unavailable"


class StoredSecretUnreadable(LinkingError):
    """A stored ciphertext does not open with the configured key ring (a dropped key?)."""

    status = 500
    error = "server_error"
