"""The service's Prometheus metrics: what is counted, under which names and labels.

A leaf: the transports (`service.amazon`), the domain and the web layer all count through these
functions, and this module imports nothing of the service. Label values come from small fixed
vocabularies (never a user id, a path with ids in it, or a value a caller chose), so the number
of series stays bounded.

Values live in this process (prometheus_client's default registry), or, in a worker of
`serve --workers N`, in files under ``PROMETHEUS_MULTIPROC_DIR``, which the serve command sets
to a fresh directory before it starts the workers; prometheus_client chooses between the two
when it is first imported, which is why workers are fresh interpreters, not forks. The
supervising process adds up every worker's files (`service.web.metrics`).
"""

from __future__ import annotations

from typing import Final, Literal

from prometheus_client import Counter, Histogram

# Seconds. Our own answers are mostly milliseconds; those that wait for LWA or Alexa can take
# as long as their timeouts (ALS_LWA_TIMEOUT, ALS_ALEXA_TIMEOUT, retries): up to 30 s.
HTTP_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
OUTBOUND_BUCKETS: Final = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0)

HTTP_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
GRANT_TYPES: Final = frozenset({"authorization_code", "refresh_token", "client_credentials"})
# RFC 6749 §5.2: what an OAuth server (ours, or LWA) may answer.
OAUTH_ERRORS: Final = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    }
)

HTTP_REQUESTS: Final = Counter(
    "als_http_requests",
    "HTTP requests answered on the public port, by method, route pattern and status.",
    ["method", "route", "status"],
)
HTTP_DURATION: Final = Histogram(
    "als_http_request_duration_seconds",
    "Time to answer an HTTP request on the public port, by route pattern.",
    ["route"],
    buckets=HTTP_BUCKETS,
)
LWA_REQUESTS: Final = Counter(
    "als_lwa_requests",
    "Calls to Login with Amazon's token endpoint, by grant type and outcome: success, the "
    "OAuth error LWA answered (invalid_grant …, oauth_error for others), timeout, "
    "network_error, or unavailable (an answer that is no use: 5xx, 429, not JSON).",
    ["grant_type", "outcome"],
)
LWA_DURATION: Final = Histogram(
    "als_lwa_request_duration_seconds",
    "Time of a call to Login with Amazon's token endpoint, by grant type.",
    ["grant_type"],
    buckets=OUTBOUND_BUCKETS,
)
ALEXA_REQUESTS: Final = Counter(
    "als_alexa_requests",
    "HTTP requests to the Alexa API (each retry counts), by Alexa's status, or timeout or "
    "network_error when there was no answer.",
    ["status"],
)
ALEXA_DURATION: Final = Histogram(
    "als_alexa_request_duration_seconds",
    "Time of one HTTP request to the Alexa API.",
    buckets=OUTBOUND_BUCKETS,
)
PARTNER_TOKENS: Final = Counter(
    "als_partner_tokens_served",
    "LWA access tokens handed out (partner token API, Alexa deliveries), by source: cache "
    "(the stored token), refresh (this call refreshed it at LWA), concurrent_refresh (another "
    "caller's refresh was awaited), fallback (LWA unreachable; the stored token still valid).",
    ["source"],
)
LINKS_CREATED: Final = Counter(
    "als_links_created",
    "LWA links stored (a new link or a re-link), by how the code came: reciprocal or accept_grant.",
    ["via"],
)
LINKS_ENDED: Final = Counter(
    "als_links_ended",
    "LWA links ended (tokens deleted), by reason: unlinked, lwa_invalid_grant.",
    ["reason"],
)
TOKEN_GRANTS: Final = Counter(
    "als_oauth_token_requests",
    "Requests to our /oauth/token, by grant type and outcome: issued, or the OAuth error code "
    "answered.",
    ["grant_type", "outcome"],
)

PartnerTokenSource = Literal["cache", "refresh", "concurrent_refresh", "fallback"]


def observe_http(method: str, route: str, status: int, seconds: float) -> None:
    method = method if method in HTTP_METHODS else "other"
    HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
    HTTP_DURATION.labels(route=route).observe(seconds)


def lwa_outcome_of_error(error: str) -> str:
    """The outcome label for an OAuth error LWA answered (its value is LWA's to choose)."""
    return error if error in OAUTH_ERRORS else "oauth_error"


def observe_lwa(grant_type: str, outcome: str, seconds: float) -> None:
    grant_type = grant_type if grant_type in GRANT_TYPES else "other"
    LWA_REQUESTS.labels(grant_type=grant_type, outcome=outcome).inc()
    LWA_DURATION.labels(grant_type=grant_type).observe(seconds)


AlexaFailure = Literal["timeout", "network_error"]


def observe_alexa(status: int | AlexaFailure, seconds: float) -> None:
    ALEXA_REQUESTS.labels(status=str(status)).inc()
    ALEXA_DURATION.observe(seconds)


def partner_token_served(source: PartnerTokenSource) -> None:
    PARTNER_TOKENS.labels(source=source).inc()


def link_created(via: str) -> None:
    LINKS_CREATED.labels(via=via).inc()


def link_ended(reason: str) -> None:
    LINKS_ENDED.labels(reason=reason).inc()


def token_grant_label(grant_type: str | None) -> str:
    """Our token endpoint's grant_type as a label: the caller chose it, so unknown ones are
    `other` and a missing one is `none`."""
    if not grant_type:
        return "none"
    return grant_type if grant_type in GRANT_TYPES else "other"


def token_request(grant_type: str | None, outcome: str) -> None:
    TOKEN_GRANTS.labels(grant_type=token_grant_label(grant_type), outcome=outcome).inc()
