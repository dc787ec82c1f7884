"""The one error model: every error a caller may see is a `ServiceError`.

An error knows its code (`error`), its HTTP `status`, a `description` safe to show, optional
`details` for the JSON body (such as the offending `field`), and the `headers()` its answer
needs (a `WWW-Authenticate` challenge, `Retry-After`). The OAuth errors (`service.oauth.errors`)
and the linking errors (`service.linking.errors`) subclass it. It is turned into an answer in
one place, `service.web.errors`: JSON on API paths, an HTML page elsewhere.
"""

from __future__ import annotations

from typing import Any, ClassVar

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class ServiceError(Exception):
    # Class defaults; an error may set its own per instance (AlexaRejected passes on Alexa's).
    error: str = "server_error"
    status: int = 500
    default_description: ClassVar[str] = ""

    def __init__(self, description: str | None = None, **details: Any) -> None:
        self.description = self.clean(
            description if description is not None else self.default_description
        )
        self.details = details
        super().__init__(f"{self.error}: {self.description}")

    @classmethod
    def clean(cls, description: str) -> str:
        return description

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        body.update(self.details)
        return body

    def headers(self) -> dict[str, str]:
        return dict(NO_STORE)


class BadRequest(ServiceError):
    error = "invalid_request"
    status = 400
    default_description = "The request was not understood."


class Forbidden(ServiceError):
    error = "forbidden"
    status = 403
    default_description = "You are not allowed to do that."


class NotFound(ServiceError):
    error = "not_found"
    status = 404
    default_description = "There is no page at this address."


class Unavailable(ServiceError):
    """A dependency (Keycloak, the database) does not answer: a fast, honest 503."""

    error = "temporarily_unavailable"
    status = 503
    default_description = "The service is briefly unavailable. Please try again in a moment."

    def headers(self) -> dict[str, str]:
        return {**NO_STORE, "Retry-After": "5"}


class TooManyRequests(ServiceError):
    """One source sent more than its share (RFC 6585 §4): 429 with `Retry-After`, the seconds
    until it may try again."""

    error = "too_many_requests"
    status = 429
    default_description = "Too many requests from your address. Please try again later."

    def __init__(self, description: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(description)
        self.retry_after = max(1, retry_after)

    def headers(self) -> dict[str, str]:
        return {**NO_STORE, "Retry-After": str(self.retry_after)}
