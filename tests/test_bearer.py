"""Bearer protection (RFC 6750) and `GET /api/me`: our tokens work until they expire."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestServer

from service.oauth.access import authenticate_access_token
from service.oauth.errors import InvalidToken
from service.oauth.unlink import revoke_grant
from service.web.appkeys import DB, TOKEN_KEYS
from service.wiring import unlink_hooks
from tests.support.oauth import client_credentials_token, create_client, issue_tokens


async def _me(server: TestServer, aiohttp_client: Any, header: str | None) -> Any:
    client = await aiohttp_client(server)
    return await client.get("/api/me", headers={"Authorization": header} if header else {})


async def test_api_me_returns_the_tokens_user(server: TestServer, aiohttp_client: Any) -> None:
    db = server.app[DB]
    client, _ = await create_client(db)
    tokens = await issue_tokens(
        server.app, client, user_id="kc-sub-1", username="user", scope="profile"
    )
    resp = await _me(server, aiohttp_client, f"Bearer {tokens['access_token']}")
    assert resp.status == 200
    assert await resp.json() == {
        "sub": "kc-sub-1",
        "username": "user",
        "client_id": client.client_id,
        "scope": "profile",
    }


async def test_bearer_scheme_is_case_insensitive(server: TestServer, aiohttp_client: Any) -> None:
    db = server.app[DB]
    client, _ = await create_client(db)
    tokens = await issue_tokens(server.app, client, user_id="u1", username="user")
    resp = await _me(server, aiohttp_client, f"bearer {tokens['access_token']}")
    assert resp.status == 200


async def test_missing_token_is_401_with_bare_challenge(
    server: TestServer, aiohttp_client: Any
) -> None:
    resp = await _me(server, aiohttp_client, None)
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="alexa-linking"'
    assert (await resp.json())["error"] == "invalid_token"


async def test_unknown_token_is_401_invalid_token(server: TestServer, aiohttp_client: Any) -> None:
    resp = await _me(server, aiohttp_client, "Bearer not-a-token-we-issued")
    assert resp.status == 401
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
    body = await resp.json()
    assert body["error"] == "invalid_token" and body["error_description"]


async def test_refresh_token_is_not_an_access_token(
    server: TestServer, aiohttp_client: Any
) -> None:
    db = server.app[DB]
    client, _ = await create_client(db)
    tokens = await issue_tokens(server.app, client, user_id="u1", username="user")
    resp = await _me(server, aiohttp_client, f"Bearer {tokens['refresh_token']}")
    assert resp.status == 401


async def test_expired_access_token_is_refused(server: TestServer, aiohttp_client: Any) -> None:
    db = server.app[DB]
    client, _ = await create_client(db, access_token_ttl=1)
    tokens = await issue_tokens(server.app, client, user_id="u1", username="user")
    assert tokens["expires_in"] == 1
    assert (await _me(server, aiohttp_client, f"Bearer {tokens['access_token']}")).status == 200
    await asyncio.sleep(1.2)
    resp = await _me(server, aiohttp_client, f"Bearer {tokens['access_token']}")
    assert resp.status == 401
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]


async def test_revoked_grant_token_is_refused(server: TestServer, aiohttp_client: Any) -> None:
    db = server.app[DB]
    client, _ = await create_client(db)
    tokens = await issue_tokens(server.app, client, user_id="u1", username="user")
    await revoke_grant(db, unlink_hooks(), user_id="u1", client_id=client.client_id)
    resp = await _me(server, aiohttp_client, f"Bearer {tokens['access_token']}")
    assert resp.status == 401


async def test_client_credentials_token_has_no_user(server: TestServer) -> None:
    db = server.app[DB]
    backend, _ = await create_client(
        db, grant_types=["client_credentials"], permissions=["partner_token:p1"], scopes=[]
    )
    ctx = await authenticate_access_token(
        db, server.app[TOKEN_KEYS], await client_credentials_token(server.app, backend)
    )
    assert ctx.user_id is None and ctx.username is None and ctx.grant_id is None
    assert ctx.client_id == backend.client_id


async def test_authenticate_access_token_raises_for_garbage(server: TestServer) -> None:
    for token in ("", "x" * 600, "\udcff"):
        try:
            await authenticate_access_token(server.app[DB], server.app[TOKEN_KEYS], token)
        except InvalidToken:
            continue
        raise AssertionError(f"{token!r} was accepted")
