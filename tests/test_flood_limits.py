"""Floods from one address: wrong client secrets (the Alexa client id is public) do not lock
the real client out, and logins started are limited per address (service/web/rate_limit.py).

Requests from another source address go out from 127.0.0.2 (the whole 127/8 is loopback on
Linux), so the server sees two callers, as it would two hosts."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from service.errors import TooManyRequests
from service.oauth import secret_hashing
from service.oauth.errors import InvalidClient
from service.storage import login_attempts
from service.web.appkeys import DB
from service.web.rate_limit import ADDRESS_FACTOR, ClientAuthLimiter, TokenBuckets
from tests.support.oauth import basic_auth, create_client, issue_tokens

OTHER_ADDRESS = "127.0.0.2"
FLOOD_PER_SECOND = 200
FLOOD_SECONDS = 2.5

Server = Callable[..., Awaitable[TestServer]]


async def _refresh(
    session: aiohttp.ClientSession, url: str, client_id: str, secret: str, refresh_token: str
) -> tuple[int, dict[str, str], dict[str, object]]:
    async with session.post(
        url,
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        headers={"Authorization": basic_auth(client_id, secret)},
    ) as resp:
        return resp.status, dict(resp.headers), await resp.json()


async def test_a_flood_of_wrong_secrets_from_one_address_leaves_the_client_working(
    aiohttp_server: Server,
    make_app: Callable[..., web.Application],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """200 wrong-secret requests a second from one address for the client's (public) id: the
    flood gets 429s, and the client's first correct request from another address, a real
    bcrypt check at production cost, is answered in under a second."""
    monkeypatch.setattr(secret_hashing, "BCRYPT_ROUNDS", 10)  # as in production
    server = await aiohttp_server(make_app())
    url = f"http://127.0.0.1:{server.port}/oauth/token"
    client, secret = await create_client(server.app[DB])
    tokens = await issue_tokens(server.app, client, user_id="u-1", username="one")
    answers: list[tuple[int, dict[str, str], dict[str, object]]] = []

    async def flood(session: aiohttp.ClientSession) -> None:
        async def one(i: int) -> None:
            answers.append(
                await _refresh(
                    session, url, client.client_id, f"guess-{i}", tokens["refresh_token"]
                )
            )

        sent = []
        for i in range(int(FLOOD_PER_SECOND * FLOOD_SECONDS)):
            sent.append(asyncio.create_task(one(i)))
            await asyncio.sleep(1 / FLOOD_PER_SECOND)
        await asyncio.gather(*sent)

    connector = aiohttp.TCPConnector(local_addr=(OTHER_ADDRESS, 0), limit=0)
    async with (
        aiohttp.ClientSession(connector=connector) as attacker,
        aiohttp.ClientSession() as alexa,
    ):
        flooding = asyncio.create_task(flood(attacker))
        await asyncio.sleep(0.5)  # the flood is in full swing
        started = time.monotonic()
        status, _, body = await _refresh(
            alexa, url, client.client_id, secret, tokens["refresh_token"]
        )
        elapsed = time.monotonic() - started
        await flooding
    assert status == 200, body
    assert elapsed < 1.0, elapsed
    statuses = Counter(status for status, _, _ in answers)
    assert statuses[200] == 0 and statuses[429] > 0.9 * len(answers), statuses
    limited = next(a for a in answers if a[0] == 429)
    assert limited[2]["error"] == "too_many_requests"
    assert int(limited[1]["Retry-After"]) >= 1
    assert limited[1]["Cache-Control"] == "no-store"


async def test_logins_started_are_limited_per_source_address(
    aiohttp_server: Server, make_app: Callable[..., web.Application]
) -> None:
    """Each `GET /login` stores a pending login: past the limit an address gets a 429 page and
    nothing is stored; another address is not affected."""
    server = await aiohttp_server(make_app(logins_per_minute=5))
    url = f"http://127.0.0.1:{server.port}/login"
    db = server.app[DB]

    async def start_login(session: aiohttp.ClientSession) -> aiohttp.ClientResponse:
        async with session.get(url, allow_redirects=False) as resp:
            await resp.read()
            return resp

    async with aiohttp.ClientSession() as session:
        for _ in range(5):
            assert (await start_login(session)).status in (302, 303)
        refused = await start_login(session)
        async with session.get(url, allow_redirects=False) as again:
            page = await again.text()
    assert refused.status == 429 and int(refused.headers["Retry-After"]) >= 1
    assert again.status == 429 and "Too many logins" in page
    assert await db[login_attempts.COLLECTION].count_documents({}) == 5
    connector = aiohttp.TCPConnector(local_addr=(OTHER_ADDRESS, 0))
    async with aiohttp.ClientSession(connector=connector) as other:
        assert (await start_login(other)).status in (302, 303)


def test_a_bucket_allows_its_burst_then_one_action_per_share_of_the_minute() -> None:
    now = [0.0]
    buckets = TokenBuckets(10, clock=lambda: now[0])
    for _ in range(10):
        buckets.take("address", "too many")
    with pytest.raises(TooManyRequests) as refused:
        buckets.take("address", "too many")
    assert refused.value.retry_after == 6 and refused.value.status == 429
    buckets.take("another address", "too many")  # each key has its own
    now[0] += 6
    buckets.take("address", "too many")
    with pytest.raises(TooManyRequests):
        buckets.take("address", "too many")


def test_an_address_cycling_through_client_ids_is_limited_as_well() -> None:
    """Each client id from one address may fail twice a minute here; over all ids together
    the address may fail ADDRESS_FACTOR times that, then every id is refused from there."""
    limiter = ClientAuthLimiter(2)

    def fail(client_id: str, address: str = "198.51.100.7") -> None:
        with limiter.attempt(client_id, address, ("wrong",)):
            raise InvalidClient()

    for n in range(ADDRESS_FACTOR):
        for _ in range(2):
            with pytest.raises(InvalidClient):
                fail(f"client-{n}")
    with pytest.raises(TooManyRequests):
        fail("client-never-tried")
    with pytest.raises(InvalidClient):  # another address is not affected
        fail("client-never-tried", address="198.51.100.8")
    with limiter.attempt("client-0", "198.51.100.9", ("right",)):
        pass  # a success costs nothing
