"""Fixtures for mutual linking: the Amazon stand-in, a partner pointing at it, the skill's
client (its id = the partner id) and an app backend client with partner_token:<partner id>."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from service.amazon.retry import RetryPolicy
from service.web.appkeys import ALEXA_RETRY
from tests.amazon_standin import AmazonStandIn
from tests.support.linking import LWA_CLIENT_ID, LWA_SECRET, Linking, set_up_linking

# Short waits so the retry tests stay fast; the rules (bounded, Retry-After capped) are the same.
TEST_RETRY = RetryPolicy(attempts=3, base_delay=0.05, max_delay=1.5)


@pytest.fixture
async def server(
    aiohttp_server: Callable[..., Awaitable[TestServer]], make_app: Callable[..., web.Application]
) -> TestServer:
    """The service on any free port: these API tests need no Keycloak login, so they leave the
    few ports registered at Keycloak to the tests that do (a test module that logs in
    overrides this fixture)."""
    app = make_app()
    app[ALEXA_RETRY] = TEST_RETRY
    return await aiohttp_server(app)


@pytest.fixture
async def amazon() -> AsyncIterator[AmazonStandIn]:
    standin = AmazonStandIn(clients={LWA_CLIENT_ID: LWA_SECRET})
    await standin.start()
    yield standin
    await standin.stop()


@pytest.fixture
async def linking(server: TestServer, amazon: AmazonStandIn) -> Linking:
    linking, _ = await set_up_linking(server.app, amazon, f"http://127.0.0.1:{server.port}")
    return linking
