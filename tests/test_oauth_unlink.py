"""Unlinking (revocation by the user or an admin) and client removal: access *and* refresh
tokens stop working, the consent is forgotten, and the unlink hooks run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from service.db import Database
from service.oauth import unlink
from service.oauth.access import authenticate_access_token
from service.oauth.clients import remove_client
from service.oauth.errors import InvalidToken
from service.oauth.unlink import UnlinkHooks
from service.storage import audit, grants
from service.storage import tokens as token_store
from service.web.appkeys import DB
from tests.support.browser import Browser
from tests.support.oauth import (
    authorize_url,
    basic_auth,
    create_client,
    get_code,
    issue_tokens,
    open_authorize,
    post,
    token_request,
)


@pytest.fixture
def calls() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def hooks(calls: list[tuple[str, str]]) -> UnlinkHooks:
    """Unlink hooks that record each call in `calls`."""

    async def record(db: Database, user_id: str, client_id: str) -> None:
        calls.append((user_id, client_id))

    return UnlinkHooks((record,))


async def test_revoke_grant_ends_access_and_refresh_tokens_and_consent(
    server: TestServer,
    base_url: str,
    browser: Browser,
    calls: list[tuple[str, str]],
    hooks: UnlinkHooks,
) -> None:
    db = server.app[DB]
    client, secret = await create_client(db)
    code = await get_code(browser, base_url, client)
    linked = await token_request(
        base_url,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uris[0]},
        client_id=client.client_id,
        secret=secret,
    )
    user_id = (await authenticate_access_token(db, linked.body["access_token"])).user_id
    assert user_id is not None
    assert [g.client_id for g in await grants.list_for_user(db, user_id)] == [client.client_id]

    revoked = await unlink.revoke_grant(db, hooks, user_id=user_id, client_id=client.client_id)
    assert revoked == 2
    with pytest.raises(InvalidToken):
        await authenticate_access_token(db, linked.body["access_token"])
    refresh = await token_request(
        base_url,
        {"grant_type": "refresh_token", "refresh_token": linked.body["refresh_token"]},
        client_id=client.client_id,
        secret=secret,
    )
    assert refresh.status == 400 and refresh.body["error"] == "invalid_grant"
    assert await grants.list_for_user(db, user_id) == []
    assert calls == [(user_id, client.client_id)]
    assert (await audit.recent(db, user_id=user_id))[0]["action"] == "oauth.unlink"
    # Linking again asks for consent again.
    page = await open_authorize(browser, authorize_url(base_url, client))
    assert page.redirect_to is None and page.form(id="consent-form")


async def test_code_issued_before_unlinking_gives_no_tokens_after_it(
    server: TestServer, base_url: str, browser: Browser, hooks: UnlinkHooks
) -> None:
    db = server.app[DB]
    client, secret = await create_client(db)
    code = await get_code(browser, base_url, client)
    [grant] = await grants.list_for_client(db, client.client_id)
    await unlink.revoke_grant(db, hooks, user_id=grant.user_id, client_id=client.client_id)
    answer = await token_request(
        base_url,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uris[0]},
        client_id=client.client_id,
        secret=secret,
    )
    assert answer.status == 400 and answer.body["error"] == "invalid_grant"


async def test_revoke_grant_leaves_other_users_and_clients_alone(
    server: TestServer, hooks: UnlinkHooks
) -> None:
    db = server.app[DB]
    client, _ = await create_client(db)
    other_client, _ = await create_client(db, name="Other")
    mine = await issue_tokens(db, client, user_id="u-1", username="one")
    theirs = await issue_tokens(db, client, user_id="u-2", username="two")
    other = await issue_tokens(db, other_client, user_id="u-1", username="one")
    await unlink.revoke_grant(db, hooks, user_id="u-1", client_id=client.client_id)
    with pytest.raises(InvalidToken):
        await authenticate_access_token(db, mine["access_token"])
    await authenticate_access_token(db, theirs["access_token"])
    await authenticate_access_token(db, other["access_token"])


async def test_failing_hook_does_not_stop_the_others(
    server: TestServer,
    calls: list[tuple[str, str]],
    hooks: UnlinkHooks,
) -> None:
    db = server.app[DB]
    client, _ = await create_client(db)
    tokens = await issue_tokens(db, client, user_id="u-1", username="one")

    async def broken(db: Database, user_id: str, client_id: str) -> None:
        raise RuntimeError("partner store down")

    with pytest.raises(RuntimeError):
        await unlink.revoke_grant(
            db, UnlinkHooks((broken, *hooks.hooks)), user_id="u-1", client_id=client.client_id
        )
    assert calls == [("u-1", client.client_id)]
    with pytest.raises(InvalidToken):  # our own tokens were revoked before the hooks ran
        await authenticate_access_token(db, tokens["access_token"])
    # The consent is kept, so the link is still listed and the person can try again.
    assert [g.client_id for g in await grants.list_for_user(db, "u-1")] == [client.client_id]
    await unlink.revoke_grant(db, hooks, user_id="u-1", client_id=client.client_id)
    assert await grants.list_for_user(db, "u-1") == []


async def test_removed_client_can_no_longer_obtain_or_use_tokens(
    server: TestServer,
    base_url: str,
    calls: list[tuple[str, str]],
    hooks: UnlinkHooks,
) -> None:
    db = server.app[DB]
    client, secret = await create_client(db)
    tokens = await issue_tokens(db, client, user_id="u-1", username="one")
    assert await remove_client(db, hooks, client.client_id, actor="test")
    with pytest.raises(InvalidToken):
        await authenticate_access_token(db, tokens["access_token"])
    answer = await token_request(
        base_url,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        client_id=client.client_id,
        secret=secret,
    )
    assert answer.status == 401 and answer.body["error"] == "invalid_client"
    assert await grants.list_for_user(db, "u-1") == []
    assert calls == [("u-1", client.client_id)]
    assert not await remove_client(db, hooks, client.client_id, actor="test")


Revocation = Callable[[Database], Awaitable[object]]


@pytest.fixture
def revoke_during_issue(monkeypatch: pytest.MonkeyPatch) -> Callable[[Revocation], None]:
    """Makes the next token insert wait for `revocation` to finish first: it lands while a
    token request is between its checks and its write."""

    def arm(revocation: Revocation) -> None:
        original = token_store.insert_many

        async def insert_after_revocation(db: Database, tokens: list[Any]) -> None:
            monkeypatch.setattr(token_store, "insert_many", original)
            await revocation(db)
            await original(db, tokens)

        monkeypatch.setattr(token_store, "insert_many", insert_after_revocation)

    return arm


@pytest.fixture
def unlink_during_issue(
    revoke_during_issue: Callable[[Revocation], None],
) -> Callable[[str, str], None]:
    def arm(user_id: str, client_id: str) -> None:
        revoke_during_issue(
            lambda db: unlink.revoke_grant(db, UnlinkHooks(), user_id=user_id, client_id=client_id)
        )

    return arm


async def _active_tokens(db: Database, client_id: str) -> int:
    return await db[token_store.COLLECTION].count_documents(
        {"client_id": client_id, "revoked": False}
    )


async def test_an_exchange_racing_an_unlink_leaves_no_live_token(
    server: TestServer,
    base_url: str,
    browser: Browser,
    unlink_during_issue: Callable[[str, str], None],
) -> None:
    db = server.app[DB]
    client, secret = await create_client(db)
    code = await get_code(browser, base_url, client)
    [grant] = await grants.list_for_client(db, client.client_id)
    unlink_during_issue(grant.user_id, client.client_id)
    answer = await token_request(
        base_url,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uris[0]},
        client_id=client.client_id,
        secret=secret,
    )
    assert answer.status == 400 and answer.body["error"] == "invalid_grant"
    assert await _active_tokens(db, client.client_id) == 0


@pytest.mark.parametrize("policy", ["reuse", "rotate"])
async def test_a_refresh_racing_an_unlink_leaves_no_live_token(
    server: TestServer,
    base_url: str,
    policy: str,
    unlink_during_issue: Callable[[str, str], None],
) -> None:
    db = server.app[DB]
    client, secret = await create_client(db, refresh_policy=policy)
    tokens = await issue_tokens(db, client, user_id="u-1", username="one")
    unlink_during_issue("u-1", client.client_id)
    answer = await token_request(
        base_url,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        client_id=client.client_id,
        secret=secret,
    )
    assert answer.status == 400 and answer.body["error"] == "invalid_grant"
    assert await _active_tokens(db, client.client_id) == 0


@pytest.mark.parametrize("policy", ["reuse", "rotate"])
async def test_a_refresh_racing_the_revocation_of_its_token_leaves_no_live_token(
    server: TestServer,
    base_url: str,
    policy: str,
    revoke_during_issue: Callable[[Revocation], None],
) -> None:
    db = server.app[DB]
    client, secret = await create_client(db, refresh_policy=policy)
    tokens = await issue_tokens(db, client, user_id="u-1", username="one")
    auth = {"Authorization": basic_auth(client.client_id, secret)}
    revoke_during_issue(
        lambda db: post(
            f"{base_url}/oauth/revoke", {"token": tokens["refresh_token"]}, headers=auth
        )
    )
    answer = await token_request(
        base_url,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        client_id=client.client_id,
        secret=secret,
    )
    assert answer.status == 400 and answer.body["error"] == "invalid_grant"
    assert await _active_tokens(db, client.client_id) == 0


async def test_a_token_request_racing_the_removal_of_its_client_leaves_no_live_token(
    server: TestServer,
    base_url: str,
    revoke_during_issue: Callable[[Revocation], None],
) -> None:
    db = server.app[DB]
    client, secret = await create_client(db, grant_types=["client_credentials"], scopes=[])
    revoke_during_issue(lambda db: remove_client(db, UnlinkHooks(), client.client_id, actor="test"))
    answer = await token_request(
        base_url, {"grant_type": "client_credentials"}, client_id=client.client_id, secret=secret
    )
    assert answer.status == 401 and answer.body["error"] == "invalid_client"
    assert await _active_tokens(db, client.client_id) == 0
