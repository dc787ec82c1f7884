"""The Alexa Skill Enablement API for a customer (docs/alexa-protocols.md §5):
`{base}/v1/users/~current/skills/{skillId}/enablement`, with the customer's Amazon access token
(scope `alexa::skills:account_linking`) as `Authorization: Bearer …`, the scheme in title case
(Amazon answers 400 to `bearer`).

* `enable` (POST): enables the skill and links it with the code we issued; Alexa redeems that
  code at our token endpoint before it answers **201**. Sent once: the code in it is single-use,
  so a retry after an answer that went missing could only fail, or link twice.
* `ask` (GET: the status; DELETE: disable) is repeated on network errors, 429 and 5xx
  (`RetryPolicy`), as the other Alexa API calls are.

Every other answer is returned as it is (400 malformed, 401 token revoked or expired, 403
missing scope or beta-tester permission, 404 skill unknown or not enabled); what it means is
the caller's decision (`service.linking.app_to_app`). Redirects are not followed (they would
carry the token elsewhere); a body is read up to 64 KiB (`service.amazon.bounded`). Tokens and
codes are never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import quote

import aiohttp

from service.amazon.bounded import AnswerTooLarge, read_body
from service.amazon.retry import RetryPolicy, retry_after
from service.clock import Clock

log = logging.getLogger(__name__)

ACCOUNT_LINKING_SCOPE: Final = "alexa::skills:account_linking"


@dataclass(frozen=True)
class EnablementAnswer:
    status: int
    body: Any  # the JSON answer, or None

    @property
    def message(self) -> str | None:
        """Amazon's `message` (SMAPI error shape), shortened, for logs and audit records."""
        body = self.body
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            return str(body["message"])[:300]
        return None

    @property
    def enabled(self) -> bool:
        """A GET's answer says the skill is enabled (`status` ENABLED)."""
        return isinstance(self.body, dict) and self.body.get("status") == "ENABLED"

    @property
    def linked(self) -> bool:
        """… and its account linked (`accountLink.status` LINKED)."""
        link = self.body.get("accountLink") if isinstance(self.body, dict) else None
        return isinstance(link, dict) and link.get("status") == "LINKED"


class EnablementUnreachable(Exception):
    """No answer from the Skill Enablement API (network error or timeout each time)."""


def enablement_url(api_base: str, skill_id: str) -> str:
    return f"{api_base.rstrip('/')}/v1/users/~current/skills/{quote(skill_id, safe='')}/enablement"


async def enable(
    http: aiohttp.ClientSession,
    *,
    api_base: str,
    skill_id: str,
    token: str,
    stage: str,
    redirect_uri: str,
    auth_code: str,
    timeout: float,  # noqa: ASYNC109 - per-request budget handed to aiohttp
) -> EnablementAnswer:
    body = {
        "stage": stage,
        "accountLinkRequest": {
            "redirectUri": redirect_uri,
            "authCode": auth_code,
            "type": "AUTH_CODE",
        },
    }
    return await _once(
        http, "POST", enablement_url(api_base, skill_id), token=token, body=body, timeout=timeout
    )


async def ask(
    http: aiohttp.ClientSession,
    method: Literal["GET", "DELETE"],
    *,
    api_base: str,
    skill_id: str,
    token: str,
    timeout: float,  # noqa: ASYNC109 - per-request budget handed to aiohttp
    retry: RetryPolicy,
    clock: Clock,
) -> EnablementAnswer:
    """The skill's enablement for the token's customer (GET: its status), or its end (DELETE:
    the skill disabled); safe to repeat, so repeated on Amazon's 429/5xx like the other calls."""
    url = enablement_url(api_base, skill_id)
    return await _repeated(
        http, method, url, token=token, timeout=timeout, retry=retry, clock=clock
    )


async def _repeated(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    token: str,
    timeout: float,  # noqa: ASYNC109 - per-request budget handed to aiohttp
    retry: RetryPolicy,
    clock: Clock,
) -> EnablementAnswer:
    for attempt in range(retry.attempts):
        last = attempt + 1 == retry.attempts
        try:
            answer, headers = await _send(
                http, method, url, token=token, body=None, timeout=timeout
            )
        except EnablementUnreachable:
            if last:
                raise
            await asyncio.sleep(retry.delay(attempt, None))
            continue
        if (answer.status == 429 or answer.status >= 500) and not last:
            await asyncio.sleep(retry.delay(attempt, retry_after(headers, clock())))
            continue
        return answer
    raise EnablementUnreachable("no attempt was made")  # attempts < 1: a policy error


async def _once(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    token: str,
    body: dict[str, Any] | None,
    timeout: float,  # noqa: ASYNC109 - per-request budget handed to aiohttp
) -> EnablementAnswer:
    answer, _ = await _send(http, method, url, token=token, body=body, timeout=timeout)
    return answer


async def _send(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    token: str,
    body: dict[str, Any] | None,
    timeout: float,  # noqa: ASYNC109 - per-request budget handed to aiohttp
) -> tuple[EnablementAnswer, Any]:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body)
    try:
        async with http.request(
            method,
            url,
            data=data,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=False,
        ) as resp:
            status, answer_headers = resp.status, resp.headers
            try:
                raw = await read_body(resp)
            except AnswerTooLarge as exc:
                log.warning("skill enablement %s answer body ignored: %s", method, exc)
                raw = b""
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("skill enablement %s unreachable: %s", method, type(exc).__name__)
        raise EnablementUnreachable(type(exc).__name__) from None
    log.info("skill enablement %s answered %d", method, status)
    return EnablementAnswer(status, _json(raw)), answer_headers


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        return None
