"""The errors of mutual linking, each a `ServiceError` (rendered by `service.web.errors`).

Where a standard OAuth code fits (the reciprocal endpoint speaks OAuth to Alexa), linking raises
the OAuth error itself (`service.oauth.errors`: `InvalidRequest`, `InvalidGrant`,
`UnsupportedGrantType`, `InvalidToken`, `InsufficientScope`); the classes here are the rest,
named for what the caller should do. Messages never contain tokens, codes or secrets.
"""

from __future__ import annotations

from typing import Any

from service.errors import ServiceError


class LinkingError(ServiceError):
    status = 400


class NotThePartnersClient(LinkingError):
    """The reciprocal call's `client_id` is no partner, or not the client its token was issued
    to (RFC 6749 §5.2 `invalid_client`, as a 400: the bearer token itself was fine)."""

    error = "invalid_client"


class PartnerNotFound(LinkingError):
    status = 404
    error = "partner_not_found"


class PartnerMisconfigured(LinkingError):
    """The partner's stored LWA token URL or Alexa API base is not one we may call (not
    Amazon's, or a link-local or metadata address): nothing is sent until an admin corrects
    it. Our configuration, not the caller's request, is at fault."""

    status = 500
    error = "partner_misconfigured"


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
    """Alexa answered with an error we pass on, with the status given."""

    error = "alexa_rejected"

    def __init__(self, description: str, *, status: int, **details: Any) -> None:
        super().__init__(description, **details)
        self.status = status

    def headers(self) -> dict[str, str]:
        headers = super().headers()
        retry_after = self.details.get("retry_after")
        if isinstance(retry_after, int | float):
            headers["Retry-After"] = str(int(retry_after))
        return headers


class AlexaUnreachable(LinkingError):
    status = 503
    error = "alexa_unavailable"


class StoredSecretUnreadable(LinkingError):
    """A stored ciphertext does not open with the configured key ring (a dropped key?)."""

    status = 500
    error = "server_error"
