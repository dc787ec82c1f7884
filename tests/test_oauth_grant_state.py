"""State per grant, not per token: tokens are checked by their MAC and one read of their grant,
a refresh writes nothing, tokens stored by the earlier design keep working, and a client
registration is trusted for a short, known time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from service.crypto import KeyRing
from service.db import Database
from service.oauth import token
from service.oauth.access import authenticate_access_token
from service.oauth.clients import remove_client, rotate_secret
from service.oauth.errors import InvalidToken
from service.oauth.unlink import UnlinkHooks, revoke_grant
from service.storage import token_grants
from service.web.appkeys import DB, SETTINGS, TOKEN_KEYS, oauth_deps
from tests.support.oauth import (
    basic_auth,
    create_client,
    issue_stored_tokens,
    issue_tokens,
    post,
    token_request,
)
from tests.support.stack import CLIENT_CACHE_SECONDS

REFRESHES = 10_000


async def _counts(db: Database) -> dict[str, int]:
    return {name: await db[name].count_documents({}) for name in await db.list_collection_names()}


async def test_ten_thousand_refreshes_add_no_document(server: TestServer, base_url: str) -> None:
    db = server.app[DB]
    client, secret = await create_client(db)
    tokens = await issue_tokens(server.app, client, user_id="u-1", username="one")
    params = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    first = await token_request(base_url, params, client_id=client.client_id, secret=secret)
    assert first.status == 200
    before = await _counts(db)
    deps = oauth_deps(server.app)

    async def refresh_many(n: int) -> None:
        for _ in range(n):
            await token.refresh(deps, client, params)

    await asyncio.gather(*(refresh_many(REFRESHES // 50) for _ in range(50)))
    # The same grant state serves them all: not one document more, in any collection.
    assert await _counts(db) == before
    last = await token_request(base_url, params, client_id=client.client_id, secret=secret)
    assert last.status == 200 and await _counts(db) == before


async def test_rotation_keeps_one_document_per_grant(server: TestServer, base_url: str) -> None:
    db = server.app[DB]
    client, secret = await create_client(db, refresh_policy="rotate")
    tokens = await issue_tokens(server.app, client, user_id="u-1", username="one")
    refresh_token = tokens["refresh_token"]
    counts = []
    for _ in range(20):
        answer = await token_request(
            base_url,
            {"grant_type": "refresh_token", "refresh_token": refresh_token},
            client_id=client.client_id,
            secret=secret,
        )
        assert answer.status == 200
        refresh_token = answer.body["refresh_token"]
        counts.append(await _counts(db))
    assert all(c == counts[0] for c in counts)
    assert counts[0][token_grants.ROTATIONS] == 1


async def test_a_token_altered_in_any_way_is_refused(server: TestServer) -> None:
    db, keys = server.app[DB], server.app[TOKEN_KEYS]
    client, _ = await create_client(db)
    access = (await issue_tokens(server.app, client, user_id="u-1", username="one"))["access_token"]
    await authenticate_access_token(db, keys, access)
    prefix, kid, payload, tag = access.split(".")
    altered = [
        f"{prefix}.{kid}.{payload[:-2]}{'AA' if payload[-2:] != 'AA' else 'BB'}.{tag}",
        f"{prefix}.{kid}.{payload}.{tag[:-2]}{'AA' if tag[-2:] != 'AA' else 'BB'}",
        f"{prefix}.other.{payload}.{tag}",
        f"{prefix}.{kid}.{payload}",
    ]
    for value in altered:
        with pytest.raises(InvalidToken):
            await authenticate_access_token(db, keys, value)


async def test_an_older_token_key_verifies_until_it_leaves_the_ring(
    server: TestServer, base_url: str, make_app: Any, aiohttp_server: Any
) -> None:
    db = server.app[DB]
    client, secret = await create_client(db)
    tokens = await issue_tokens(server.app, client, user_id="u-1", username="one")
    old_ring = server.app[TOKEN_KEYS]
    new_key = f"t2:{KeyRing.generate_key()}"
    app = make_app(token_keys=f"{new_key},{server.app[SETTINGS].token_keys}")
    rotated = await aiohttp_server(app)
    url = f"http://127.0.0.1:{rotated.port}"
    assert app[TOKEN_KEYS].primary_kid == "t2" and old_ring.primary_kid in app[TOKEN_KEYS].kids
    # A refresh token signed with the older key still works, and the answer carries one
    # signed with the newest key, which keeps working once the older key is gone.
    answer = await token_request(
        url,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        client_id=client.client_id,
        secret=secret,
    )
    assert answer.status == 200
    renewed = answer.body["refresh_token"]
    assert renewed.split(".")[1] == "t2" and renewed != tokens["refresh_token"]
    only_new = await aiohttp_server(make_app(token_keys=new_key))
    again = await token_request(
        f"http://127.0.0.1:{only_new.port}",
        {"grant_type": "refresh_token", "refresh_token": renewed},
        client_id=client.client_id,
        secret=secret,
    )
    assert again.status == 200
    gone = await token_request(
        f"http://127.0.0.1:{only_new.port}",
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        client_id=client.client_id,
        secret=secret,
    )
    assert gone.status == 400 and gone.body["error"] == "invalid_grant"


async def test_tokens_stored_by_the_earlier_design_keep_working(
    server: TestServer, base_url: str
) -> None:
    """Tokens issued before grants held the state are documents with the tokens' hashes: the
    access token is still accepted, and the refresh token becomes a grant on its first use."""
    db, keys = server.app[DB], server.app[TOKEN_KEYS]
    client, secret = await create_client(db)
    stored = await issue_stored_tokens(db, client, user_id="u-1", username="one")
    access = await authenticate_access_token(db, keys, stored["access_token"])
    assert (access.user_id, access.client_id) == ("u-1", client.client_id)
    params = {"grant_type": "refresh_token", "refresh_token": stored["refresh_token"]}
    answer = await token_request(base_url, params, client_id=client.client_id, secret=secret)
    assert answer.status == 200
    grant = await token_grants.get(db, stored["grant_id"])
    assert grant is not None and grant.user_id == "u-1" and grant.active
    fresh = await authenticate_access_token(db, keys, answer.body["access_token"])
    assert fresh.grant_id == stored["grant_id"]
    # The client may go on with the old refresh token or the new one it was given.
    for value in (stored["refresh_token"], answer.body["refresh_token"]):
        again = await token_request(
            base_url,
            {"grant_type": "refresh_token", "refresh_token": value},
            client_id=client.client_id,
            secret=secret,
        )
        assert again.status == 200
    # Unlinking ends both kinds.
    await revoke_grant(db, UnlinkHooks(), user_id="u-1", client_id=client.client_id)
    for value in (stored["refresh_token"], answer.body["refresh_token"]):
        refused = await token_request(
            base_url,
            {"grant_type": "refresh_token", "refresh_token": value},
            client_id=client.client_id,
            secret=secret,
        )
        assert refused.status == 400 and refused.body["error"] == "invalid_grant"
    with pytest.raises(InvalidToken):
        await authenticate_access_token(db, keys, stored["access_token"])


async def test_a_stored_refresh_token_revoked_by_rfc7009_is_refused(
    server: TestServer, base_url: str
) -> None:
    db = server.app[DB]
    client, secret = await create_client(db)
    stored = await issue_stored_tokens(db, client, user_id="u-1", username="one")
    auth = {"Authorization": basic_auth(client.client_id, secret)}
    revoked = await post(
        f"{base_url}/oauth/revoke", {"token": stored["refresh_token"]}, headers=auth
    )
    assert revoked.status == 200
    answer = await token_request(
        base_url,
        {"grant_type": "refresh_token", "refresh_token": stored["refresh_token"]},
        client_id=client.client_id,
        secret=secret,
    )
    assert answer.status == 400 and answer.body["error"] == "invalid_grant"


async def _cc_status(base_url: str, client_id: str, secret: str) -> int:
    answer = await token_request(
        base_url, {"grant_type": "client_credentials"}, client_id=client_id, secret=secret
    )
    return answer.status


async def test_a_secret_rotated_elsewhere_stops_working_within_the_cache_time(
    server: TestServer, base_url: str
) -> None:
    """Another process (a worker, the command line) rotated the secret: this one trusts the
    registration it read for ALS_CLIENT_CACHE_SECONDS, then reads it again."""
    db = server.app[DB]
    client, secret = await create_client(db, grant_types=["client_credentials"], scopes=[])
    assert await _cc_status(base_url, client.client_id, secret) == 200
    new = await rotate_secret(db, client.client_id, actor="test")
    assert new is not None
    await asyncio.sleep(CLIENT_CACHE_SECONDS)
    assert await _cc_status(base_url, client.client_id, secret) == 401
    assert await _cc_status(base_url, client.client_id, new) == 200


async def test_a_client_removed_elsewhere_stops_working_within_the_cache_time(
    server: TestServer, base_url: str
) -> None:
    db = server.app[DB]
    client, secret = await create_client(db, grant_types=["client_credentials"], scopes=[])
    assert await _cc_status(base_url, client.client_id, secret) == 200
    assert await remove_client(db, UnlinkHooks(), client.client_id, actor="test")
    await asyncio.sleep(CLIENT_CACHE_SECONDS)
    assert await _cc_status(base_url, client.client_id, secret) == 401
