"""POST /oauth/introspect (RFC 7662), for the skill backend: active tokens describe their user,
client, scope and times; everything else is just {"active": false}."""

from __future__ import annotations

import time
from typing import Any

from aiohttp.test_utils import TestServer

from service.oauth.unlink import revoke_grant
from service.web.appkeys import DB
from service.wiring import unlink_hooks
from tests.support.oauth import basic_auth, create_client, issue_tokens, post


async def _introspect(base_url: str, client_id: str, secret: str, token: str) -> Any:
    answer = await post(
        f"{base_url}/oauth/introspect",
        {"token": token},
        headers={"Authorization": basic_auth(client_id, secret)},
    )
    assert answer.status == 200
    assert answer.headers["Cache-Control"] == "no-store"
    return answer.body


async def test_active_access_token_is_described(server: TestServer, base_url: str) -> None:
    db = server.app[DB]
    client, secret = await create_client(db)
    tokens = await issue_tokens(
        server.app, client, user_id="kc-1", username="user", scope="profile"
    )
    body = await _introspect(base_url, client.client_id, secret, tokens["access_token"])
    now = int(time.time())
    assert body["active"] is True
    assert body["sub"] == "kc-1" and body["username"] == "user"
    assert body["client_id"] == client.client_id and body["scope"] == "profile"
    assert body["token_type"] == "Bearer"
    assert now - 5 <= body["iat"] <= now + 1
    assert abs(body["exp"] - body["iat"] - 3600) <= 1


async def test_resource_server_with_introspect_permission_sees_other_clients_tokens(
    server: TestServer, base_url: str
) -> None:
    db = server.app[DB]
    alexa, _ = await create_client(db)
    tokens = await issue_tokens(server.app, alexa, user_id="kc-1", username="user")
    skill, skill_secret = await create_client(
        db,
        name="Skill backend",
        scopes=[],
        grant_types=["client_credentials"],
        permissions=["introspect"],
    )
    body = await _introspect(base_url, skill.client_id, skill_secret, tokens["access_token"])
    assert body["active"] is True and body["client_id"] == alexa.client_id
    stranger, stranger_secret = await create_client(
        db, name="Stranger", scopes=[], grant_types=["client_credentials"]
    )
    body = await _introspect(base_url, stranger.client_id, stranger_secret, tokens["access_token"])
    assert body == {"active": False}


async def test_revoked_unknown_and_refresh_tokens(server: TestServer, base_url: str) -> None:
    db = server.app[DB]
    client, secret = await create_client(db)
    tokens = await issue_tokens(server.app, client, user_id="kc-1", username="user")
    refresh = await _introspect(base_url, client.client_id, secret, tokens["refresh_token"])
    assert refresh["active"] is True and "exp" not in refresh  # never expires
    assert await _introspect(base_url, client.client_id, secret, "nope") == {"active": False}
    await revoke_grant(db, unlink_hooks(), user_id="kc-1", client_id=client.client_id)
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert await _introspect(base_url, client.client_id, secret, token) == {"active": False}


async def test_introspection_requires_client_authentication(
    server: TestServer, base_url: str
) -> None:
    answer = await post(f"{base_url}/oauth/introspect", {"token": "x"})
    assert answer.status == 401 and answer.body["error"] == "invalid_client"
