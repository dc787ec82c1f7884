"""A stalled or failing database: the token endpoint answers a fast 503 instead of hanging,
and nothing half-done is lost (a code whose grant was stored before the failure can be
exchanged again; a client removal that failed part-way finishes when repeated).

The stalled database is the test's own Mongo-protocol server, stopped with SIGSTOP (it keeps
its connections and answers nothing, and does what it was sent once continued), never the
shared stack's."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from service.clock import utcnow
from service.db import Database
from service.models.oauth import AuthorizationCode, OAuthClient, TokenGrant
from service.oauth.clients import remove_client
from service.oauth.token_values import new_grant_id, new_secret_value, secret_hash
from service.oauth.unlink import UnlinkHooks
from service.storage import authorization_codes, grants, token_grants
from service.web.appkeys import DB
from tests.support.oauth import Answer, basic_auth, create_client, issue_tokens
from tests.support.stack import MongoServer

pytestmark = pytest.mark.skipif(
    not MongoServer.available(), reason="needs mongod or the FerretDB binary"
)

# Alexa gives up on the token endpoint after 4.5 s (docs/alexa-protocols.md §1).
ALEXA_DEADLINE = 4.0


@pytest.fixture
async def stalled_app_server(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    make_app: Callable[..., web.Application],
    mongo: MongoServer,
) -> AsyncIterator[TestServer]:
    yield await aiohttp_server(make_app(mongodb_uri=mongo.uri))
    mongo.thaw()  # before the app's shutdown, which talks to it


async def issue_code(db: Database, client: OAuthClient, user_id: str = "u-1") -> str:
    """A code as the authorize endpoint issues it after the user allowed (no browser needed)."""
    value, now = new_secret_value(), utcnow()
    await authorization_codes.insert(
        db,
        AuthorizationCode(
            code_hash=secret_hash(value),
            client_id=client.client_id,
            redirect_uri=client.redirect_uris[0],
            user_id=user_id,
            username="one",
            scopes=frozenset({"profile"}),
            code_challenge=None,
            code_challenge_method=None,
            grant_id=new_grant_id(),
            created_at=now,
            expires_at=now + timedelta(seconds=300),
        ),
    )
    return value


async def token_call(
    server: TestServer, client: OAuthClient, secret: str, form: dict[str, str]
) -> tuple[Answer, float]:
    """A token request as Alexa sends it, and how long the answer took (given up after 10 s,
    far past Alexa's patience)."""
    started = time.monotonic()
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.post(
            f"http://127.0.0.1:{server.port}/oauth/token",
            data=form,
            headers={"Authorization": basic_auth(client.client_id, secret)},
        ) as resp,
    ):
        body = await resp.json()
        return Answer(resp.status, resp.headers, body), time.monotonic() - started


def exchange(code: str, client: OAuthClient) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": client.redirect_uris[0],
    }


async def me(server: TestServer, access_token: str) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"http://127.0.0.1:{server.port}/api/me",
            headers={"Authorization": f"Bearer {access_token}"},
        ) as resp,
    ):
        return resp.status


async def test_a_frozen_database_gets_alexa_a_fast_503_and_loses_nothing(
    stalled_app_server: TestServer, mongo: MongoServer
) -> None:
    server = stalled_app_server
    db = server.app[DB]
    client, secret = await create_client(db)
    tokens = await issue_tokens(server.app, client, user_id="u-1", username="one")
    code = await issue_code(db, client)
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    mongo.freeze()
    for form in (exchange(code, client), refresh):
        answer, took = await token_call(server, client, secret, form)
        assert answer.status == 503, answer.body
        assert answer.body["error"] == "temporarily_unavailable"
        assert int(answer.headers["Retry-After"]) > 0
        assert took < ALEXA_DEADLINE, took
    mongo.thaw()
    # Alexa tries again: the code and the refresh token work as if nothing had happened.
    answer, _ = await token_call(server, client, secret, exchange(code, client))
    assert answer.status == 200, answer.body
    assert await me(server, answer.body["access_token"]) == 200
    answer, _ = await token_call(server, client, secret, refresh)
    assert answer.status == 200, answer.body


async def test_a_code_whose_grant_was_stored_before_the_database_stalled_can_be_retried(
    stalled_app_server: TestServer, mongo: MongoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database stops right after the code's grant is stored: Alexa gets a 503, and its
    retry of the same code gets the tokens (it is no replay: no answer was ever given). A real
    replay after that still revokes them."""
    server = stalled_app_server
    db = server.app[DB]
    client, secret = await create_client(db)
    code = await issue_code(db, client)
    real_insert = token_grants.insert

    async def insert_then_stall(db: Database, grant: TokenGrant) -> tuple[TokenGrant, bool]:
        stored = await real_insert(db, grant)
        monkeypatch.setattr(token_grants, "insert", real_insert)
        mongo.freeze()  # between the grant and the answer
        return stored

    monkeypatch.setattr(token_grants, "insert", insert_then_stall)
    answer, took = await token_call(server, client, secret, exchange(code, client))
    assert answer.status == 503 and took < ALEXA_DEADLINE, (answer.body, took)
    mongo.thaw()
    retry, _ = await token_call(server, client, secret, exchange(code, client))
    assert retry.status == 200, retry.body
    assert await me(server, retry.body["access_token"]) == 200
    replay, _ = await token_call(server, client, secret, exchange(code, client))
    assert replay.status == 400 and replay.body["error"] == "invalid_grant"
    assert await me(server, retry.body["access_token"]) == 401


async def test_a_client_removal_that_failed_part_way_finishes_when_repeated(
    server: TestServer,
) -> None:
    """An unlink hook fails during the removal (a database write of it, say): the consents,
    which name the users whose clean-up is owed, are kept, and removing the client again runs
    the hooks for them and finishes."""
    db = server.app[DB]
    client, _ = await create_client(db)
    for user in ("u-1", "u-2"):
        await issue_tokens(server.app, client, user_id=user, username=user)
    cleaned: list[str] = []
    failures = {"u-1"}

    async def flaky_hook(db: Database, user_id: str, client_id: str) -> None:
        if user_id in failures:
            failures.discard(user_id)
            raise RuntimeError("the database went away")
        cleaned.append(user_id)

    hooks = UnlinkHooks((flaky_hook,))
    with pytest.raises(RuntimeError):
        await remove_client(db, hooks, client.client_id, actor="test")
    assert {g.user_id for g in await grants.list_for_client(db, client.client_id)} == {
        "u-1",
        "u-2",
    }
    assert await remove_client(db, hooks, client.client_id, actor="test")
    assert sorted(cleaned) == ["u-1", "u-2", "u-2"]
    assert await grants.list_for_client(db, client.client_id) == []
    assert not await remove_client(db, hooks, client.client_id, actor="test")
