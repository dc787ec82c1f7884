"""Client for Login with Amazon's token endpoint (RFC 6749 §4.1.3 and §6;
docs/alexa-protocols.md §3).

We call LWA to turn the code Alexa hands to our reciprocal endpoint (or AcceptGrant) into the
user's Alexa tokens, and to refresh them. Client credentials go in the form body, as Amazon's
samples do. The two exception types split failures by what the caller should do:

* ``LwaError`` — LWA gave a definite OAuth answer (4xx + JSON error). ``invalid_grant`` on a
  refresh means the user revoked the link: delete the tokens.
* ``LwaUnavailable`` — no usable answer (network, timeout, 5xx, 429, garbage, an answer larger
  than 64 KiB): keep the tokens and retry later. Never treat this as a revocation.

Tokens, codes and secrets are never logged, and ``LwaTokens`` keeps them out of its repr.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp

from service import metrics_registry
from service.amazon.bounded import MAX_ANSWER_BYTES, AnswerTooLarge, read_body

__all__ = ["LwaError", "LwaTokens", "LwaUnavailable", "exchange_code", "refresh_tokens"]

log = logging.getLogger(__name__)

DEFAULT_EXPIRES_IN: Final = 3600  # LWA access tokens live 60 min (docs/alexa-protocols.md §3)
# LWA's tokens live an hour; a far larger figure is garbage (and `now + expires_in` would
# overflow a datetime). Capping it only makes us refresh sooner than the answer said.
MAX_EXPIRES_IN: Final = 24 * 3600


@dataclass(frozen=True)
class LwaTokens:
    """A token response. ``refresh_token`` is None when LWA sent none: keep the old one."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_in: int
    token_type: str


class LwaError(Exception):
    """LWA rejected the request with an OAuth error (RFC 6749 §5.2)."""

    def __init__(self, error: str, description: str, status: int) -> None:
        super().__init__(f"LWA answered {status} {error}: {description}")
        self.error = error
        self.description = description
        self.status = status


class LwaUnavailable(Exception):
    """LWA could not be reached or gave no usable answer; the outcome is unknown, retry later."""


async def exchange_code(
    http: aiohttp.ClientSession,
    *,
    token_url: str,
    client_id: str,
    client_secret: str,
    code: str,
    timeout: float,  # noqa: ASYNC109 - per-request budget handed to aiohttp, see _token_request
    redirect_uri: str | None = None,
    code_verifier: str | None = None,
) -> LwaTokens:
    """Exchange an LWA authorization code (single use, valid 5 minutes) for tokens; with
    `code_verifier` when the code was asked for with a PKCE challenge (RFC 7636 §4.5)."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "client_secret": client_secret,
    }
    if redirect_uri is not None:
        form["redirect_uri"] = redirect_uri
    if code_verifier is not None:
        form["code_verifier"] = code_verifier
    return await _token_request(http, token_url, form, timeout)


async def refresh_tokens(
    http: aiohttp.ClientSession,
    *,
    token_url: str,
    client_id: str,
    client_secret: str,
    refresh_token: str,
    timeout: float,  # noqa: ASYNC109 - per-request budget handed to aiohttp, see _token_request
) -> LwaTokens:
    """Get a new access token; LWA requires the client secret here (else invalid_request)."""
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": client_id,
        "client_secret": client_secret,
    }
    return await _token_request(http, token_url, form, timeout)


async def _token_request(
    http: aiohttp.ClientSession, token_url: str, form: dict[str, str], budget_s: float
) -> LwaTokens:
    """`_post_token_form`, counted and timed by outcome (`service.metrics_registry`)."""
    grant_type = form["grant_type"]
    started = time.perf_counter()
    try:
        tokens = await _post_token_form(http, token_url, form, budget_s)
    except LwaError as exc:
        outcome = metrics_registry.lwa_outcome_of_error(exc.error)
        metrics_registry.observe_lwa(grant_type, outcome, time.perf_counter() - started)
        raise
    except LwaUnavailable as exc:
        outcome = _unavailable_outcome(exc)
        metrics_registry.observe_lwa(grant_type, outcome, time.perf_counter() - started)
        raise
    metrics_registry.observe_lwa(grant_type, "success", time.perf_counter() - started)
    return tokens


def _unavailable_outcome(exc: LwaUnavailable) -> str:
    if isinstance(exc.__cause__, TimeoutError):
        return "timeout"
    if isinstance(exc.__cause__, aiohttp.ClientError):
        return "network_error"
    return "unavailable"  # LWA answered, but nothing usable: 5xx, 429, not JSON


async def _post_token_form(
    http: aiohttp.ClientSession, token_url: str, form: dict[str, str], budget_s: float
) -> LwaTokens:
    # An explicit total budget (connect + send + read) rather than relying on the caller's
    # asyncio.timeout: callers answering Alexa synchronously must not hang on a slow LWA.
    grant_type = form["grant_type"]
    started = time.monotonic()
    try:
        async with http.post(
            token_url,
            data=form,
            headers={"Accept": "application/json"},
            timeout=aiohttp.ClientTimeout(total=budget_s),
            # A redirect would re-send the credentials somewhere we did not choose.
            allow_redirects=False,
        ) as resp:
            status = resp.status
            raw = await read_body(resp)
    except AnswerTooLarge as exc:  # garbage: no LWA answer is that long
        log.warning("LWA %s answer refused: %s", grant_type, exc)
        raise LwaUnavailable(f"LWA answered more than {MAX_ANSWER_BYTES} bytes") from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("LWA %s request failed: %s", grant_type, type(exc).__name__)
        raise LwaUnavailable(f"LWA token endpoint unreachable ({type(exc).__name__})") from exc

    elapsed_ms = (time.monotonic() - started) * 1000
    log.info("LWA %s answered %d in %.0f ms", grant_type, status, elapsed_ms)
    body = _json_object(raw)

    if 200 <= status < 300:
        if body is None:
            raise LwaUnavailable(f"LWA answered {status} with a body that is not a JSON object")
        return _parse_tokens(body)

    # 429 is throttling, not a verdict on the grant: the caller must retry, not unlink.
    if 400 <= status < 500 and status != 429 and body is not None:
        error = body.get("error")
        if isinstance(error, str) and error:
            description = body.get("error_description")
            raise LwaError(error, description if isinstance(description, str) else "", status)
    raise LwaUnavailable(f"LWA answered {status} without an OAuth error body")


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _parse_tokens(body: dict[str, Any]) -> LwaTokens:
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise LwaUnavailable("LWA success response has no access_token")
    refresh_token = body.get("refresh_token")
    if refresh_token is not None and not isinstance(refresh_token, str):
        raise LwaUnavailable("LWA success response has a non-string refresh_token")
    token_type = body.get("token_type", "bearer")
    if not isinstance(token_type, str):
        raise LwaUnavailable("LWA success response has a non-string token_type")
    return LwaTokens(
        access_token=access_token,
        refresh_token=refresh_token or None,
        expires_in=_parse_expires_in(body.get("expires_in")),
        token_type=token_type,
    )


def _parse_expires_in(value: object) -> int:
    """Lenient: one Amazon sample sends ``"3600"`` as a string (docs/alexa-protocols.md §3)."""
    if value is None:
        return DEFAULT_EXPIRES_IN
    if isinstance(value, bool):  # bool is an int subclass; True is not a lifetime
        raise LwaUnavailable("LWA success response has an invalid expires_in")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, float) and value.is_integer():
        seconds = int(value)
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        seconds = int(value.strip())
    else:
        raise LwaUnavailable("LWA success response has an invalid expires_in")
    if seconds < 0:
        raise LwaUnavailable("LWA success response has a negative expires_in")
    return min(seconds, MAX_EXPIRES_IN)
