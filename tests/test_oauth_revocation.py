"""POST /oauth/revoke (RFC 7009): client-authenticated; a refresh token takes its grant's
access tokens with it; unknown tokens get 200; other clients' tokens are refused."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer

from service.oauth.access import authenticate_access_token
from service.oauth.errors import InvalidToken
from service.web.appkeys import DB, TOKEN_KEYS
from tests.support.oauth import basic_auth, create_client, issue_tokens, post, token_request


async def _setup(server: TestServer) -> tuple[Any, str, dict[str, Any]]:
    db = server.app[DB]
    client, secret = await create_client(db)
    tokens = await issue_tokens(server.app, client, user_id="u-1", username="user")
    return client, secret, tokens


async def _active(server: TestServer, access_token: str) -> bool:
    try:
        await authenticate_access_token(server.app[DB], server.app[TOKEN_KEYS], access_token)
    except InvalidToken:
        return False
    return True


async def test_revoking_refresh_token_revokes_its_access_tokens(
    server: TestServer, base_url: str
) -> None:
    client, secret, tokens = await _setup(server)
    refreshed = await token_request(
        base_url,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        client_id=client.client_id,
        secret=secret,
    )
    answer = await post(
        f"{base_url}/oauth/revoke",
        {"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
        headers={"Authorization": basic_auth(client.client_id, secret)},
    )
    assert answer.status == 200
    assert answer.headers["Cache-Control"] == "no-store"
    assert not await _active(server, tokens["access_token"])
    assert not await _active(server, refreshed.body["access_token"])
    again = await token_request(
        base_url,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        client_id=client.client_id,
        secret=secret,
    )
    assert again.status == 400 and again.body["error"] == "invalid_grant"


async def test_revoking_access_token_leaves_refresh_token(
    server: TestServer, base_url: str
) -> None:
    client, secret, tokens = await _setup(server)
    answer = await post(
        f"{base_url}/oauth/revoke",
        {
            "token": tokens["access_token"],
            "client_id": client.client_id,
            "client_secret": secret,
        },
    )
    assert answer.status == 200
    assert not await _active(server, tokens["access_token"])
    refreshed = await token_request(
        base_url,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        client_id=client.client_id,
        secret=secret,
    )
    assert refreshed.status == 200


async def test_unknown_token_and_wrong_hint_still_200(server: TestServer, base_url: str) -> None:
    client, secret, tokens = await _setup(server)
    auth = {"Authorization": basic_auth(client.client_id, secret)}
    unknown = await post(f"{base_url}/oauth/revoke", {"token": "never-issued"}, headers=auth)
    assert unknown.status == 200
    # The hint is only a hint (RFC 7009 §2.1): a wrong or unknown one changes nothing.
    hinted = await post(
        f"{base_url}/oauth/revoke",
        {"token": tokens["access_token"], "token_type_hint": "something_else"},
        headers=auth,
    )
    assert hinted.status == 200 and not await _active(server, tokens["access_token"])


async def test_revocation_requires_client_authentication(server: TestServer, base_url: str) -> None:
    _, _, tokens = await _setup(server)
    answer = await post(f"{base_url}/oauth/revoke", {"token": tokens["access_token"]})
    assert answer.status == 401 and answer.body["error"] == "invalid_client"
    assert await _active(server, tokens["access_token"])


async def test_another_clients_token_cannot_be_revoked(server: TestServer, base_url: str) -> None:
    _, _, tokens = await _setup(server)
    other, other_secret = await create_client(server.app[DB], name="Other")
    answer = await post(
        f"{base_url}/oauth/revoke",
        {"token": tokens["access_token"]},
        headers={"Authorization": basic_auth(other.client_id, other_secret)},
    )
    assert answer.status == 400 and answer.body["error"] == "invalid_grant"
    assert await _active(server, tokens["access_token"])


async def test_missing_token_is_invalid_request(server: TestServer, base_url: str) -> None:
    client, secret, _ = await _setup(server)
    answer = await post(
        f"{base_url}/oauth/revoke",
        {},
        headers={
            "Authorization": basic_auth(client.client_id, secret),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert answer.status == 400 and answer.body["error"] == "invalid_request"
