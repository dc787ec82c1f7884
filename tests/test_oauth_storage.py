"""OAuth storage against the real Mongo-protocol server: only hashes at rest, the indexes
exist, and spending a code is atomic under concurrency."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from aiohttp.test_utils import TestServer

from service.clock import utcnow
from service.models.oauth import AuthorizationCode, Token, TokenGrant
from service.oauth.token_values import secret_hash
from service.storage import authorization_codes, grants, token_grants, tokens
from service.storage.purge import purge_expired
from service.web.appkeys import DB
from tests.support.browser import Browser
from tests.support.oauth import create_client, exchange_data, get_code, token_request


async def test_no_code_or_token_is_stored_usable(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    db = server.app[DB]
    client, secret = await create_client(db)
    code = await get_code(browser, base_url, client)
    answer = await token_request(
        base_url, exchange_data(code, client), client_id=client.client_id, secret=secret
    )
    plain = [code, answer.body["access_token"], answer.body["refresh_token"]]
    dump = ""
    for name in await db.list_collection_names():
        dump += str(await db[name].find({}).to_list(None))
    for value in plain:
        assert value not in dump
    # The code is found by its hash; the tokens are checked by their MAC and stored nowhere.
    assert secret_hash(code) in dump
    for value in plain[1:]:
        assert secret_hash(value) not in dump


async def test_indexes_exist(server: TestServer) -> None:
    db = server.app[DB]
    index = {
        ix["name"]: ix for ix in await (await db[grants.COLLECTION].list_indexes()).to_list(None)
    }
    assert index["user_id_1_client_id_1"].get("unique") is True
    names = {ix["name"] for ix in await (await db[tokens.COLLECTION].list_indexes()).to_list(None)}
    assert {"grant_id_1", "user_id_1_client_id_1"} <= names


def _code(code_hash: str, expires_in: float) -> AuthorizationCode:
    now = datetime.now(UTC)
    return AuthorizationCode(
        code_hash=code_hash,
        client_id="c",
        redirect_uri=None,
        user_id="u",
        username="u",
        scopes=frozenset(),
        code_challenge=None,
        code_challenge_method=None,
        grant_id="g",
        created_at=now,
        expires_at=now + timedelta(seconds=expires_in),
    )


async def test_concurrent_grants_of_a_code_have_one_winner(server: TestServer) -> None:
    """Spending a code is inserting its grant: of concurrent exchanges exactly one makes it."""
    db = server.app[DB]
    for n in range(10):
        grant = TokenGrant(
            grant_id=f"g-{n}",
            client_id="c",
            user_id="u",
            username="user",
            scopes=frozenset(),
            created_at=utcnow(),
        )
        results = await asyncio.gather(*[token_grants.insert(db, grant) for _ in range(8)])
        assert sorted(created for _, created in results) == [False] * 7 + [True]


async def test_purge_removes_long_expired_codes(server: TestServer) -> None:
    db = server.app[DB]
    await authorization_codes.insert(db, _code("old", -2 * 86400))
    await authorization_codes.insert(db, _code("fresh", 60))
    await purge_expired(db, utcnow())
    assert await authorization_codes.get(db, "old") is None
    assert await authorization_codes.get(db, "fresh") is not None


async def test_a_revoked_refresh_token_that_never_expires_is_purged_a_day_later(
    server: TestServer,
) -> None:
    db = server.app[DB]
    now = datetime.now(UTC)
    forever = Token(
        token_hash="rt-forever",
        kind="refresh",
        client_id="c",
        user_id="u",
        username="u",
        scopes=frozenset(),
        grant_id="g",
        issued_at=now,
        expires_at=None,
    )
    await tokens.insert_many(db, [forever])
    await purge_expired(db, utcnow())
    assert await tokens.get(db, "rt-forever") is not None  # live: kept however old
    await tokens.revoke_grant(db, "g")
    await purge_expired(db, utcnow())
    assert await tokens.get(db, "rt-forever") is not None  # revoked: kept a day
    assert await tokens.purge(db, now + timedelta(hours=23)) == 0
    assert await tokens.purge(db, now + timedelta(hours=25)) == 1
