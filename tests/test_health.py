"""/healthz and /readyz, including Mongo going away and coming back (metrics: test_metrics.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from service import contexts
from service.storage import grants
from service.web.appkeys import DB
from tests.support.oauth import basic_auth
from tests.support.stack import MongoServer

Client = Callable[..., Awaitable[TestClient[Any, Any]]]


async def test_healthz_answers(
    make_app: Callable[..., web.Application], aiohttp_client: Client
) -> None:
    client = await aiohttp_client(make_app())
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json())["status"] == "ok"


async def test_readyz_when_everything_is_up(
    make_app: Callable[..., web.Application], aiohttp_client: Client
) -> None:
    client = await aiohttp_client(make_app())
    resp = await client.get("/readyz")
    assert resp.status == 200
    assert await resp.json() == {
        "status": "ready",
        "checks": {"mongo": "up", "indexes": "ready", "keycloak": "up"},
        "requires": ["mongo", "indexes"],
    }
    assert (await client.get("/readyz?full=1")).status == 200


async def test_keycloak_down_leaves_the_token_endpoint_ready_and_is_reported(
    make_app: Callable[..., web.Application], aiohttp_client: Client
) -> None:
    """Tokens and the partner APIs need no Keycloak: a load balancer reading /readyz keeps
    them in rotation; /readyz?full=1 (logins need Keycloak) does not."""
    client = await aiohttp_client(make_app(keycloak_url="http://127.0.0.1:9"))
    resp = await client.get("/readyz")
    assert resp.status == 200
    assert (await resp.json())["checks"] == {"mongo": "up", "indexes": "ready", "keycloak": "down"}
    full = await client.get("/readyz?full=1")
    assert full.status == 503
    assert await full.json() == {
        "status": "unavailable",
        "checks": {"mongo": "up", "indexes": "ready", "keycloak": "down"},
        "requires": ["mongo", "indexes", "keycloak"],
    }


@pytest.mark.skipif(not MongoServer.available(), reason="needs mongod or the FerretDB binary")
async def test_readyz_follows_mongo_down_and_back(
    make_app: Callable[..., web.Application], aiohttp_client: Client
) -> None:
    mongo = MongoServer()
    mongo.start()
    try:
        client = await aiohttp_client(make_app(mongodb_uri=mongo.uri))
        assert (await client.get("/readyz")).status == 200
        mongo.stop()
        resp = await client.get("/readyz")
        assert resp.status == 503
        assert (await resp.json())["checks"]["mongo"] == "down"
        assert (await client.get("/healthz")).status == 200
        mongo.start()
        resp = await client.get("/readyz")
        assert resp.status == 200, await resp.text()
    finally:
        mongo.cleanup()


@pytest.mark.skipif(not MongoServer.available(), reason="needs mongod or the FerretDB binary")
async def test_started_without_mongo_answers_503_and_creates_indexes_once_it_is_back(
    make_app: Callable[..., web.Application],
    aiohttp_client: Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(contexts, "INDEX_RETRY_SECONDS", 0.2)
    mongo = MongoServer()  # not started yet
    try:
        app = make_app(mongodb_uri=mongo.uri)
        client = await aiohttp_client(app)
        resp = await client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": basic_auth("x", "y")},
        )
        assert resp.status == 503
        assert (await resp.json())["error"] == "temporarily_unavailable"
        mongo.start()
        consents = app[DB][grants.COLLECTION]
        deadline = asyncio.get_running_loop().time() + 30
        while not any(i.get("unique") for i in (await consents.index_information()).values()):
            assert asyncio.get_running_loop().time() < deadline, "indexes never created"
            await asyncio.sleep(0.2)
        while (await client.get("/readyz")).status != 200:  # the other indexes follow
            assert asyncio.get_running_loop().time() < deadline, "never ready"
            await asyncio.sleep(0.2)
    finally:
        mongo.cleanup()


@pytest.mark.skipif(not MongoServer.available(), reason="needs mongod or the FerretDB binary")
async def test_not_ready_until_the_indexes_exist(
    make_app: Callable[..., web.Application],
    aiohttp_client: Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Started with the database down: once it answers, /readyz stays 503 (and token requests
    get 503) until the unique indexes are in place, not merely until the database pings."""
    monkeypatch.setattr(contexts, "INDEX_RETRY_SECONDS", 2.0)
    mongo = MongoServer()  # not started yet
    try:
        app = make_app(mongodb_uri=mongo.uri)
        client = await aiohttp_client(app)
        assert (await client.get("/readyz")).status == 503
        mongo.start()
        consents = app[DB][grants.COLLECTION]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        saw_up_but_pending = False
        while True:
            assert loop.time() < deadline, "never ready"
            resp = await client.get("/readyz")
            checks = (await resp.json())["checks"]
            # Looked at after the answer: what existed when it was given exists now.
            unique = any(i.get("unique") for i in (await consents.index_information()).values())
            if resp.status == 200:
                assert unique, "ready before the unique indexes existed"
                break
            if checks["mongo"] == "up" and checks.get("indexes") == "pending":
                saw_up_but_pending = True
                token = await client.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials"},
                    headers={"Authorization": basic_auth("x", "y")},
                )
                assert token.status == 503 and "Retry-After" in token.headers
                assert (await token.json())["error"] == "temporarily_unavailable"
            await asyncio.sleep(0.1)
        assert saw_up_but_pending
    finally:
        mongo.cleanup()
