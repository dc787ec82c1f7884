"""Calling an Alexa API with a customer's token: posting JSON (health profile reports, smart-home
events, docs/alexa-protocols.md §4) and the Skill Enablement API (§5, `skill_enablement`),
retrying what is worth retrying.

Network failures, 429 and 5xx are retried up to the policy's attempts, waiting ``Retry-After``
(capped) or an exponential backoff. Every other answer is returned as it is: what a 401 or a
403 means for the link is the linking domain's decision. Redirects are not followed (they would
carry the token elsewhere). A body is read up to 64 KiB (`service.amazon.bounded`); a longer
one counts as none.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from service import metrics_registry
from service.amazon.bounded import AnswerTooLarge, read_body
from service.amazon.retry import RetryPolicy, retry_after
from service.clock import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlexaAnswer:
    status: int
    headers: Mapping[str, str]
    body: Any  # the JSON answer, or None
    attempts: int  # HTTP requests made

    def error_details(self) -> dict[str, Any]:
        """Alexa's ``payload.code``/``description`` when the body has them (§4.2)."""
        body = self.body
        if not isinstance(body, dict) or not isinstance(body.get("payload"), dict):
            return {}
        payload = body["payload"]
        code, description = payload.get("code"), payload.get("description")
        details: dict[str, Any] = {}
        if isinstance(code, str):
            details["alexa_code"] = code
        if isinstance(description, str):
            details["alexa_description"] = description[:500]
        return details


class AlexaUnreachable(Exception):
    """No answer after every attempt (network error or timeout each time)."""

    def __init__(self, attempts: int) -> None:
        super().__init__(f"Alexa could not be reached after {attempts} attempts")
        self.attempts = attempts


async def _read(resp: aiohttp.ClientResponse, url: str) -> bytes:
    """The body, or nothing when it is larger than any answer of the Alexa API (its status
    still counts; the body is garbage)."""
    try:
        return await read_body(resp)
    except AnswerTooLarge as exc:
        log.warning("Alexa %s answer body ignored: %s", url, exc)
        return b""


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


async def post_json(
    http: aiohttp.ClientSession,
    url: str,
    payload: dict[str, Any],
    *,
    token: str,
    timeout: float,  # noqa: ASYNC109 - per-request budget handed to aiohttp
    retry: RetryPolicy,
    clock: Clock,
) -> AlexaAnswer:
    return await call(
        http, "POST", url, payload, token=token, timeout=timeout, retry=retry, clock=clock
    )


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    payload: dict[str, Any] | None,
    *,
    token: str,
    timeout: float,  # noqa: ASYNC109 - per-request budget handed to aiohttp
    retry: RetryPolicy,
    clock: Clock,
) -> AlexaAnswer:
    """`method` on `url` with the token as `Bearer` (title case) and `payload` as JSON, if
    any; `retry.attempts` 1 sends it once."""
    headers = {"Authorization": f"Bearer {token}"}
    if payload is not None:
        headers["Content-Type"] = "application/json"
    data = None if payload is None else json.dumps(payload)
    attempts = 0
    while True:
        attempts += 1
        started = time.perf_counter()
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
                raw = await _read(resp, url)
        except (aiohttp.ClientError, TimeoutError) as exc:
            failure: metrics_registry.AlexaFailure = (
                "timeout" if isinstance(exc, TimeoutError) else "network_error"
            )
            metrics_registry.observe_alexa(failure, time.perf_counter() - started)
            log.warning("Alexa %s %s unreachable: %s", method, url, type(exc).__name__)
            if attempts < retry.attempts:
                await asyncio.sleep(retry.delay(attempts - 1, None))
                continue
            raise AlexaUnreachable(attempts) from None
        metrics_registry.observe_alexa(status, time.perf_counter() - started)
        if (status == 429 or status >= 500) and attempts < retry.attempts:
            delay = retry.delay(attempts - 1, retry_after(answer_headers, clock()))
            log.info("Alexa %s %s answered %d; retrying in %.1f s", method, url, status, delay)
            await asyncio.sleep(delay)
            continue
        return AlexaAnswer(status, answer_headers, _json(raw), attempts)
