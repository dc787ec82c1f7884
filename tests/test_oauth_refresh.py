"""POST /oauth/token, grant_type=refresh_token: Amazon's rule that an old refresh token keeps
working (reuse by default; with rotation until its successor is used), and invalid_grant for
revoked, unknown, expired or other clients' tokens."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestServer

from service.models.oauth import OAuthClient
from service.oauth.clients import settings_of, update_client
from service.web.appkeys import DB
from tests.support.oauth import (
    Answer,
    basic_auth,
    create_client,
    issue_tokens,
    post,
    token_request,
)


async def _refresh(
    base_url: str, client: OAuthClient, secret: str, refresh_token: str, **extra: str
) -> Answer:
    return await token_request(
        base_url,
        {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra},
        client_id=client.client_id,
        secret=secret,
    )


async def _linked(
    server: TestServer, **client_fields: Any
) -> tuple[OAuthClient, str, dict[str, Any]]:
    db = server.app[DB]
    client, secret = await create_client(db, **client_fields)
    tokens = await issue_tokens(
        server.app,
        client,
        user_id="u-1",
        username="user",
        scope="profile alexa::health:profile:write",
    )
    return client, secret, tokens


async def test_refresh_returns_new_access_token_and_same_refresh_token(
    server: TestServer, base_url: str
) -> None:
    client, secret, tokens = await _linked(server)
    for _ in range(3):  # Alexa may refresh (and retry) with the same token any number of times
        answer = await _refresh(base_url, client, secret, tokens["refresh_token"])
        assert answer.status == 200
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.body["refresh_token"] == tokens["refresh_token"]
        assert answer.body["access_token"] != tokens["access_token"]
        assert type(answer.body["expires_in"]) is int
        assert answer.body["scope"] == "alexa::health:profile:write profile"


async def test_rotation_keeps_previous_token_valid_until_successor_is_used(
    server: TestServer, base_url: str
) -> None:
    client, secret, tokens = await _linked(server, refresh_policy="rotate")
    first = tokens["refresh_token"]
    answer = await _refresh(base_url, client, secret, first)
    second = answer.body["refresh_token"]
    assert second != first
    # Alexa lost the answer and retries with the old token: still fine.
    retry = await _refresh(base_url, client, secret, first)
    assert retry.status == 200
    second_again = retry.body["refresh_token"]
    # Alexa kept `second_again`; its first use ends `first` and the unused sibling `second`.
    assert (await _refresh(base_url, client, secret, second_again)).status == 200
    assert (await _refresh(base_url, client, secret, first)).body["error"] == "invalid_grant"
    assert (await _refresh(base_url, client, secret, second)).body["error"] == "invalid_grant"
    # The successor goes on working, and so does its own successor chain.
    third = (await _refresh(base_url, client, secret, second_again)).body["refresh_token"]
    assert (await _refresh(base_url, client, secret, third)).status == 200


async def test_concurrent_refreshes_with_one_token_all_succeed(
    server: TestServer, base_url: str
) -> None:
    client, secret, tokens = await _linked(server, refresh_policy="rotate")
    answers = await asyncio.gather(
        *[_refresh(base_url, client, secret, tokens["refresh_token"]) for _ in range(5)]
    )
    assert [a.status for a in answers] == [200] * 5


async def test_refresh_with_another_clients_token_is_invalid_grant(
    server: TestServer, base_url: str
) -> None:
    _, _, tokens = await _linked(server)
    other, other_secret = await create_client(server.app[DB], name="Other")
    answer = await _refresh(base_url, other, other_secret, tokens["refresh_token"])
    assert answer.status == 400 and answer.body["error"] == "invalid_grant"


async def test_refresh_with_unknown_or_access_token_is_invalid_grant(
    server: TestServer, base_url: str
) -> None:
    client, secret, tokens = await _linked(server)
    for value in ("unknown-token", tokens["access_token"]):
        answer = await _refresh(base_url, client, secret, value)
        assert answer.status == 400 and answer.body["error"] == "invalid_grant"


async def test_expired_refresh_token_is_invalid_grant(server: TestServer, base_url: str) -> None:
    client, secret, tokens = await _linked(server, refresh_token_ttl=1)
    assert (await _refresh(base_url, client, secret, tokens["refresh_token"])).status == 200
    await asyncio.sleep(1.2)
    answer = await _refresh(base_url, client, secret, tokens["refresh_token"])
    assert answer.status == 400 and answer.body["error"] == "invalid_grant"


async def test_refresh_may_narrow_but_not_widen_scope(server: TestServer, base_url: str) -> None:
    db = server.app[DB]
    client, secret = await create_client(db)
    tokens = await issue_tokens(server.app, client, user_id="u-1", username="user", scope="profile")
    narrowed = await _refresh(base_url, client, secret, tokens["refresh_token"], scope="profile")
    assert narrowed.status == 200 and narrowed.body["scope"] == "profile"
    widened = await _refresh(
        base_url,
        client,
        secret,
        tokens["refresh_token"],
        scope="profile alexa::health:profile:write",
    )
    assert widened.status == 400 and widened.body["error"] == "invalid_scope"


async def test_rotated_refresh_token_keeps_the_full_scope_when_access_is_narrowed(
    server: TestServer, base_url: str
) -> None:
    # RFC 6749 §6: a new refresh token's scope is that of the one presented; `scope` narrows
    # only the access token. Otherwise one narrowed refresh would lose the rest for good.
    client, secret, tokens = await _linked(server, refresh_policy="rotate")
    narrowed = await _refresh(base_url, client, secret, tokens["refresh_token"], scope="profile")
    assert narrowed.status == 200 and narrowed.body["scope"] == "profile"
    full = await _refresh(base_url, client, secret, narrowed.body["refresh_token"])
    assert full.status == 200
    assert full.body["scope"] == "alexa::health:profile:write profile"
    again = await _refresh(
        base_url,
        client,
        secret,
        full.body["refresh_token"],
        scope="profile alexa::health:profile:write",
    )
    assert again.status == 200


async def test_missing_refresh_token_is_invalid_request(server: TestServer, base_url: str) -> None:
    client, secret, _ = await _linked(server)
    answer = await token_request(
        base_url, {"grant_type": "refresh_token"}, client_id=client.client_id, secret=secret
    )
    assert answer.status == 400 and answer.body["error"] == "invalid_request"


async def test_client_without_refresh_grant_cannot_refresh(
    server: TestServer, base_url: str
) -> None:
    db = server.app[DB]
    client, secret = await create_client(db)
    tokens = await issue_tokens(server.app, client, user_id="u-1", username="user")
    settings = {**settings_of(client), "grant_types": frozenset({"authorization_code"})}
    await update_client(db, client.client_id, actor="test", **settings)
    answer = await _refresh(base_url, client, secret, tokens["refresh_token"])
    assert answer.status == 400 and answer.body["error"] == "unauthorized_client"


async def test_revoking_a_successor_at_its_first_use_holds(
    server: TestServer, base_url: str
) -> None:
    """The first use of a rotated refresh token retires its predecessor; a revocation of that
    token at the same moment must not be undone by it (FerretDB writes whole documents back)."""
    client, secret, tokens = await _linked(server, refresh_policy="rotate")
    auth = {"Authorization": basic_auth(client.client_id, secret)}
    current = tokens["refresh_token"]
    for i in range(15):
        successor = (await _refresh(base_url, client, secret, current)).body["refresh_token"]
        await asyncio.gather(
            _refresh(base_url, client, secret, successor),
            post(f"{base_url}/oauth/revoke", {"token": successor}, headers=auth),
        )
        after = await _refresh(base_url, client, secret, successor)
        assert after.status == 400 and after.body["error"] == "invalid_grant", i
        # Start the next round from a live token of a fresh link.
        current = (await _linked_again(server, client))["refresh_token"]


async def _linked_again(server: TestServer, client: OAuthClient) -> dict[str, Any]:
    return await issue_tokens(
        server.app,
        client,
        user_id="u-1",
        username="user",
        scope="profile alexa::health:profile:write",
    )
