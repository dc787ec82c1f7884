"""Posting to Alexa with the user's LWA token: health profile reports and smart-home events.

Rules (alexa-protocols.md §4, requirement 26): the regional host stored with the link; 401 →
refresh the token once and retry; 403 → the skill is disabled or the permission gone, so the
link is marked inactive and its tokens deleted; 429 and 5xx → a bounded number of retries,
waiting ``Retry-After`` (capped) or an exponential backoff. The caller learns what Alexa said.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final

import aiohttp

from service.linking import tokens
from service.linking.deps import LinkingDeps
from service.linking.errors import AlexaRejected, AlexaUnreachable, LinkInactive
from service.storage import audit, partner_tokens
from service.storage.partner_tokens import LinkStatus

log = logging.getLogger(__name__)

PROFILE_PATH: Final = "/v1/health/profile"
EVENTS_PATH: Final = "/v3/events"


@dataclass(frozen=True)
class Delivery:
    """Alexa accepted the message."""

    status: int
    attempts: int  # HTTP requests made to Alexa
    refreshed: bool  # a 401 made us refresh the token once
    alexa_body: Any


def _retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    value = headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _alexa_error(body: Any) -> dict[str, Any]:
    """Alexa's ``payload.code``/``description`` when the body has them (§4.2)."""
    if isinstance(body, dict) and isinstance(body.get("payload"), dict):
        payload = body["payload"]
        code, description = payload.get("code"), payload.get("description")
        details: dict[str, Any] = {}
        if isinstance(code, str):
            details["alexa_code"] = code
        if isinstance(description, str):
            details["alexa_description"] = description[:500]
        return details
    return {}


async def send(
    deps: LinkingDeps,
    *,
    user_ref: str,
    partner_id: str,
    path: str,
    body: dict[str, Any],
    actor: str,
    prepare: Callable[[dict[str, Any], str], dict[str, Any]] | None = None,
) -> Delivery:
    """POST `body` to the link's Alexa API base + `path`; `prepare(body, token)` may put the
    token into the message too (smart-home events carry it in ``endpoint.scope``)."""
    token = await tokens.access_token(deps, user_ref=user_ref, partner_id=partner_id, actor=actor)
    refreshed = False
    retries = 0
    requests = 0
    while True:
        link = token.link
        url = link.alexa_api_base.rstrip("/") + path
        payload = prepare(body, token.token) if prepare else body
        requests += 1
        try:
            async with deps.http.post(
                url,
                data=json.dumps(payload),
                headers={
                    "Authorization": f"Bearer {token.token}",
                    "Content-Type": "application/json",
                },
                timeout=aiohttp.ClientTimeout(total=deps.alexa_timeout),
                allow_redirects=False,
            ) as resp:
                status, headers = resp.status, resp.headers
                raw = await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("Alexa %s unreachable: %s", path, type(exc).__name__)
            if retries + 1 < deps.retry.attempts:
                await asyncio.sleep(deps.retry.delay(retries, None))
                retries += 1
                continue
            raise AlexaUnreachable(
                f"Alexa could not be reached after {requests} attempts", attempts=requests
            ) from None
        try:
            answer: Any = json.loads(raw) if raw else None
        except ValueError:
            answer = None
        log.info(
            "Alexa %s answered %d (user %s, partner %s)", path, status, link.user_id, partner_id
        )

        if 200 <= status < 300:
            return Delivery(status, requests, refreshed, answer)
        details = {"alexa_status": status, **_alexa_error(answer), "attempts": requests}
        if status == 401 and not refreshed:
            refreshed = True
            token = await tokens.access_token(
                deps,
                user_ref=link.user_id,
                partner_id=partner_id,
                actor=actor,
                stale_generation=link.generation,
            )
            continue
        if status == 401:
            raise AlexaRejected(
                "Alexa refused the user's token even after a refresh", status=502, **details
            )
        if status == 403:
            ended = await partner_tokens.end_link(
                deps.db,
                link.user_id,
                partner_id,
                status=LinkStatus.INACTIVE,
                reason=details.get("alexa_code", "alexa_403"),
                now=deps.clock(),
                # The skill is disabled for this linking, however often its token was
                # refreshed meanwhile (by a concurrent caller); a re-link is left alone.
                linked_at=link.linked_at,
            )
            if ended:
                await audit.record(
                    deps.db,
                    "link_inactive",
                    actor=actor,
                    user_id=link.user_id,
                    partner_id=partner_id,
                    reason=details.get("alexa_code"),
                )
            raise LinkInactive(
                "Alexa answered 403 (skill disabled or permission withdrawn); the link is now "
                "inactive and its tokens were deleted",
                **details,
            )
        if status == 429 or status >= 500:
            if retries + 1 < deps.retry.attempts:
                delay = deps.retry.delay(retries, _retry_after(headers, datetime.now(UTC)))
                log.info("Alexa %s answered %d; retrying in %.1f s", path, status, delay)
                await asyncio.sleep(delay)
                retries += 1
                continue
            if status == 429:
                hint = _retry_after(headers, datetime.now(UTC))
                if hint is not None:
                    details["retry_after"] = int(hint)
                raise AlexaRejected("Alexa is throttling; try again later", status=429, **details)
            raise AlexaRejected("Alexa failed to accept the message", status=502, **details)
        if 400 <= status < 500:
            raise AlexaRejected(f"Alexa rejected the message ({status})", status=status, **details)
        # A redirect (not followed: it would carry the token elsewhere) or another odd status
        # is no answer of the Alexa API; passing it on would make ours a redirect without a
        # Location.
        raise AlexaRejected(f"Alexa answered an unexpected {status}", status=502, **details)
