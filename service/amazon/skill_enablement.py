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
the caller's decision (`service.linking.app_to_app`). The requests, their retries and their
limits (no redirects, bodies up to 64 KiB) are `service.amazon.alexa_api.call`'s. Tokens and
codes are never logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import quote

import aiohttp

from service.amazon import alexa_api
from service.amazon.retry import RetryPolicy
from service.clock import Clock, utcnow

ACCOUNT_LINKING_SCOPE: Final = "alexa::skills:account_linking"
_ONCE: Final = RetryPolicy(attempts=1)  # `enable`: the code it carries is single-use


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
    answer = await alexa_api.call(
        http,
        "POST",
        enablement_url(api_base, skill_id),
        body,
        token=token,
        timeout=timeout,
        retry=_ONCE,
        clock=utcnow,
    )
    return EnablementAnswer(answer.status, answer.body)


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
    answer = await alexa_api.call(
        http,
        method,
        enablement_url(api_base, skill_id),
        None,
        token=token,
        timeout=timeout,
        retry=retry,
        clock=clock,
    )
    return EnablementAnswer(answer.status, answer.body)
