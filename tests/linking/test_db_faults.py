"""What LWA gave us is not lost to a database that stalls right after: an exchanged code's
tokens and a refreshed set are stored once the database answers again (within the time
allowed), and the callers waiting for the refresh get the fresh token.

The database is the test's own Mongo-protocol server, stopped with SIGSTOP while the Amazon
stand-in holds the LWA answer back, so the stall falls between LWA's success and our write."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from service.linking import links, tokens
from service.storage import skill_enablements
from service.web.appkeys import ALEXA_RETRY
from tests.amazon_standin import AmazonStandIn
from tests.linking.conftest import TEST_RETRY
from tests.support.alexa_link import pkce, set_up
from tests.support.linking import Linking
from tests.support.stack import MongoServer

pytestmark = pytest.mark.skipif(
    not MongoServer.available(), reason="needs mongod or the FerretDB binary"
)

LWA_DELAY = 1.0  # LWA answers this long after it was asked
FREEZE_AT = 0.5  # the database stops while LWA works on the request ...
THAW_AT = 3.5  # ... and wakes after LWA answered: our write has waited ~2.5 s for it
DB_TIMEOUT = 1.0  # ALS_MONGODB_TIMEOUT of the server under test


@pytest.fixture
async def server(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    make_app: Callable[..., web.Application],
    mongo: MongoServer,
) -> AsyncIterator[TestServer]:
    app = make_app(mongodb_uri=mongo.uri, mongodb_timeout=DB_TIMEOUT)
    app[ALEXA_RETRY] = TEST_RETRY
    yield await aiohttp_server(app)
    mongo.thaw()


async def _stall_while_lwa_answers(mongo: MongoServer, thaw_at: float = THAW_AT) -> None:
    await asyncio.sleep(FREEZE_AT)
    mongo.freeze()
    await asyncio.sleep(thaw_at - FREEZE_AT)
    mongo.thaw()


async def test_an_lwa_code_exchanged_before_a_database_stall_still_makes_the_link(
    linking: Linking, mongo: MongoServer
) -> None:
    token, code = await linking.user_token(), linking.lwa_code()
    linking.amazon.set_lwa_delay(LWA_DELAY)
    answer, _ = await asyncio.gather(
        linking.reciprocal(token, code=code), _stall_while_lwa_answers(mongo)
    )
    assert answer.status == 200 and answer.body == {"status": "linked"}, answer.body
    linking.amazon.set_lwa_delay(0)
    served = await linking.partner_token()
    assert served.status == 200, served.body
    assert linking.amazon.is_access_token_valid(served.body["access_token"])
    assert linking.amazon.exchange_count == 1


async def test_an_lwa_refresh_before_a_database_stall_is_stored_and_served_to_every_waiter(
    linking: Linking, mongo: MongoServer
) -> None:
    await linking.link()
    before = await linking.link_doc()
    assert before is not None
    await linking.age_link()
    linking.amazon.set_lwa_delay(LWA_DELAY)

    async def second_caller() -> object:
        await asyncio.sleep(0.2)  # finds the first caller's refresh under way, and waits
        return await linking.partner_token()

    first, second, _ = await asyncio.gather(
        linking.partner_token(), second_caller(), _stall_while_lwa_answers(mongo)
    )
    for answer in (first, second):
        assert answer.status == 200, answer.body  # type: ignore[attr-defined]
    assert first.body["access_token"] == second.body["access_token"]  # type: ignore[attr-defined]
    assert "warning" not in first.body
    assert linking.amazon.is_access_token_valid(first.body["access_token"])
    assert linking.amazon.refresh_count == 1
    after = await linking.link_doc()
    assert after is not None and after["generation"] > before["generation"]
    assert after["refreshed_at"] is not None


async def test_lwa_tokens_that_cannot_be_stored_in_time_are_reported_not_dropped_silently(
    linking: Linking,
    mongo: MongoServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The stall outlasts the time allowed: Alexa hears that the link was not stored, and the
    log says that the customer may have to link again."""
    monkeypatch.setattr(links, "STORE_SECONDS", 1.5)
    token, code = await linking.user_token(), linking.lwa_code()
    linking.amazon.set_lwa_delay(LWA_DELAY)
    with caplog.at_level(logging.ERROR, logger="service.linking.links"):
        answer, _ = await asyncio.gather(
            linking.reciprocal(token, code=code), _stall_while_lwa_answers(mongo, thaw_at=3.0)
        )
    assert answer.status == 503 and answer.body["error"] == "temporarily_unavailable"
    assert "could not be stored" in answer.body["error_description"]
    assert any("link the skill again" in r.getMessage() for r in caplog.records)


async def test_a_refreshed_token_that_cannot_be_stored_is_served_and_reported(
    linking: Linking,
    mongo: MongoServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The stall outlasts the refresh lease: the fresh token (valid at Amazon) is served with a
    warning that it was not stored, and the log says so; the next call refreshes again."""
    monkeypatch.setattr(tokens, "LEASE_GRACE", 0.5)  # the lease ends 3.5 s after it is taken
    await linking.link()
    await linking.age_link()
    linking.amazon.set_lwa_delay(LWA_DELAY)
    with caplog.at_level(logging.ERROR, logger="service.linking.tokens"):
        answer, _ = await asyncio.gather(
            linking.partner_token(), _stall_while_lwa_answers(mongo, thaw_at=3.5)
        )
    assert answer.status == 200, answer.body
    assert linking.amazon.is_access_token_valid(answer.body["access_token"])
    assert answer.body["warning"] == tokens.NOT_STORED
    assert any("did not store them" in r.getMessage() for r in caplog.records)
    linking.amazon.set_lwa_delay(0)
    again = await linking.partner_token()
    assert again.status == 200 and "warning" not in again.body
    assert linking.amazon.is_access_token_valid(again.body["access_token"])


async def test_an_alexa_link_made_before_a_database_stall_is_still_kept(
    server: TestServer, amazon: AmazonStandIn, base_url: str, mongo: MongoServer
) -> None:
    """Linking from our side: Alexa has enabled the skill and redeemed our code when the
    database stops; the Amazon tokens are stored once it answers again, and the app hears 201
    (not a 503 for a link that exists at Amazon and that we would have forgotten)."""
    alexa = await set_up(server.app, amazon, base_url)
    verifier, _ = pkce()
    code = alexa.app_code(verifier)
    amazon.set_enablement_delay(2 * FREEZE_AT)  # our code is redeemed, the 201 not yet back

    async def stall_after_the_redemption() -> None:
        while not amazon.enablements:
            await asyncio.sleep(0.02)
        mongo.freeze()
        await asyncio.sleep(THAW_AT - FREEZE_AT)
        mongo.thaw()

    answer, _ = await asyncio.gather(
        alexa.enablement(code=code, code_verifier=verifier), stall_after_the_redemption()
    )
    assert answer.status == 201, answer.body
    kept = await skill_enablements.get(
        alexa.db, answer.body["user_id"], alexa.skill_client.client_id
    )
    assert kept is not None and kept.via == "app"
