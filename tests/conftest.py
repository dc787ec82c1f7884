"""Fixtures: settings → app → server → clients, against the real Keycloak and Mongo-protocol
server that `make test` (scripts/stack.sh up) started. Every test gets its own database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pymongo import AsyncMongoClient

from service.app import create_app
from service.oauth import secret_hashing
from service.settings import Settings
from service.web.appkeys import SETTINGS
from tests.support.browser import Browser
from tests.support.stack import (
    CLIENT_CACHE_SECONDS,
    MongoServer,
    load_stack_env,
    mongo_answers,
    pick_test_port,
)

STACK = load_stack_env()

# Hundreds of clients are made in a run; bcrypt's lowest cost keeps that quick. The cost is
# stored in each hash, so checking is the same code as in production (cost 10).
secret_hashing.BCRYPT_ROUNDS = 4


def pytest_sessionstart(session: pytest.Session) -> None:
    uri = STACK.get("ALS_MONGODB_URI")
    if not uri or not mongo_answers(uri):
        pytest.exit("the test stack is not up: run `make test` (or scripts/stack.sh up)", 2)


@pytest.fixture
def db_name() -> str:
    return f"als_test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def settings(db_name: str) -> AsyncIterator[Settings]:
    port = pick_test_port()
    settings = Settings(
        env="dev",
        public_url=f"http://127.0.0.1:{port}",
        port=port,
        keycloak_url=STACK["ALS_KEYCLOAK_URL"],
        keycloak_realm=STACK.get("ALS_KEYCLOAK_REALM", "alexa-linking"),
        mongodb_uri=STACK["ALS_MONGODB_URI"],
        mongodb_db=db_name,
        client_cache_seconds=CLIENT_CACHE_SECONDS,
        allow_custom_amazon_urls=True,  # partners point at the Amazon stand-in
    ).validate()
    yield settings
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_uri)
    await client.drop_database(db_name)
    await client.close()


@pytest.fixture
def make_app(settings: Settings) -> Callable[..., web.Application]:
    def factory(**changes: Any) -> web.Application:
        return create_app(settings.with_(**changes) if changes else settings)

    return factory


@pytest.fixture
async def server(
    aiohttp_server: Callable[..., Awaitable[TestServer]], make_app: Callable[..., web.Application]
) -> TestServer:
    """The service on a port registered in the realm, so Keycloak logins come back to it."""
    app = make_app()
    for _ in range(10):
        try:
            return await aiohttp_server(app, port=app[SETTINGS].port)
        except OSError:  # another test run took the port in the meantime: pick another
            port = pick_test_port()
            app = make_app(port=port, public_url=f"http://127.0.0.1:{port}")
    raise RuntimeError("no free test port")


@pytest.fixture
def base_url(server: TestServer) -> str:
    return f"http://127.0.0.1:{server.port}"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    b = Browser()
    yield b
    await b.close()


@pytest.fixture
async def browser_factory() -> AsyncIterator[Callable[[], Browser]]:
    made: list[Browser] = []

    def factory() -> Browser:
        made.append(Browser())
        return made[-1]

    yield factory
    for b in made:
        await b.close()


@pytest.fixture
def mongo() -> Iterator[MongoServer]:
    """A Mongo-protocol server of the test's own, which it may freeze or stop."""
    server = MongoServer()
    server.start()
    yield server
    server.cleanup()
