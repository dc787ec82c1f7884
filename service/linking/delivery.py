"""Delivering health profile reports and smart-home events to Alexa with the user's LWA token,
and what Alexa's answer means for the link (docs/alexa-protocols.md §4, R26).

Sending, and the bounded retries of 429, 5xx and network failures, are the transport's
(`service.amazon.alexa_api`). Decided here: the regional host stored with the link; 401 →
refresh the token once and send again; 403 → the skill is disabled or the permission gone, so
the link is marked inactive and its tokens deleted; anything else that is not a success is
passed on to the caller with Alexa's status and code.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, NoReturn

from service.amazon import alexa_api
from service.amazon.alexa_api import AlexaAnswer
from service.amazon.retry import retry_after
from service.linking import tokens
from service.linking.deps import LinkingDeps
from service.linking.errors import AlexaRejected, AlexaUnreachable, LinkInactive
from service.linking.partners import require_alexa_base
from service.models.linking import LinkStatus, PartnerLink
from service.storage import audit, partner_tokens

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
    attempts = 0
    refreshed = False
    while True:
        link = token.link
        # The host stored with the link when it was made: checked like the partner's own.
        require_alexa_base(
            partner_id, link.alexa_api_base, allow_custom=deps.allow_custom_amazon_urls
        )
        try:
            answer = await alexa_api.post_json(
                deps.http,
                link.alexa_api_base.rstrip("/") + path,
                prepare(body, token.token) if prepare else body,
                token=token.token,
                timeout=deps.alexa_timeout,
                retry=deps.retry,
                clock=deps.clock,
            )
        except alexa_api.AlexaUnreachable as exc:
            attempts += exc.attempts
            raise AlexaUnreachable(
                f"Alexa could not be reached after {attempts} attempts", attempts=attempts
            ) from None
        attempts += answer.attempts
        log.info(
            "Alexa %s answered %d (user %s, partner %s)",
            path,
            answer.status,
            link.user_id,
            partner_id,
        )
        if 200 <= answer.status < 300:
            return Delivery(answer.status, attempts, refreshed, answer.body)
        if answer.status == 401 and not refreshed:
            refreshed = True
            token = await tokens.access_token(
                deps,
                user_ref=link.user_id,
                partner_id=partner_id,
                actor=actor,
                stale_generation=link.generation,
            )
            continue
        details = {"alexa_status": answer.status, **answer.error_details(), "attempts": attempts}
        if answer.status == 403:
            await _deactivate(deps, link, actor, details)
        raise _rejection(answer, details, deps)


async def _deactivate(
    deps: LinkingDeps, link: PartnerLink, actor: str, details: dict[str, Any]
) -> NoReturn:
    """Alexa's 403: the skill is disabled for this linking, however often its token was
    refreshed meanwhile (by a concurrent caller); a re-link in the meantime is left alone."""
    reason = details.get("alexa_code", "alexa_403")
    ended = await partner_tokens.end_link(
        deps.db,
        link.user_id,
        link.partner_id,
        status=LinkStatus.INACTIVE,
        reason=reason,
        now=deps.clock(),
        linked_at=link.linked_at,
    )
    if ended:
        await audit.record(
            deps.db,
            "link_inactive",
            actor=actor,
            user_id=link.user_id,
            partner_id=link.partner_id,
            reason=details.get("alexa_code"),
        )
    raise LinkInactive(
        "Alexa answered 403 (skill disabled or permission withdrawn); the link is now "
        "inactive and its tokens were deleted",
        **details,
    )


def _rejection(answer: AlexaAnswer, details: dict[str, Any], deps: LinkingDeps) -> AlexaRejected:
    status = answer.status
    if status == 401:
        return AlexaRejected(
            "Alexa refused the user's token even after a refresh", status=502, **details
        )
    if status == 429:
        hint = retry_after(answer.headers, deps.clock())
        if hint is not None:
            details["retry_after"] = int(hint)
        return AlexaRejected("Alexa is throttling; try again later", status=429, **details)
    if status >= 500:
        return AlexaRejected("Alexa failed to accept the message", status=502, **details)
    if 400 <= status < 500:
        return AlexaRejected(f"Alexa rejected the message ({status})", status=status, **details)
    # A redirect (not followed: it would carry the token elsewhere) or another odd status is no
    # answer of the Alexa API; passing it on would make ours a redirect without a Location.
    return AlexaRejected(f"Alexa answered an unexpected {status}", status=502, **details)
