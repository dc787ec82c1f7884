"""Unlinking (revocation by the user or an admin) and client removal: access *and* refresh
tokens stop working, the consent is forgotten, and the unlink hooks run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestServer

from service.db import Database
from service.models.oauth import TokenGrant
from service.oauth import unlink
from service.oauth.access import authenticate_access_token
from service.oauth.clients import remove_client
from service.oauth.errors import InvalidToken
from service.oauth.unlink import UnlinkHooks
from service.storage import audit, grants, token_grants
from service.web.appkeys import DB, TOKEN_KEYS
from tests.support.browser import Browser
from tests.support.oauth import (
    Answer,
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
    user_id = (
        await authenticate_access_token(db, server.app[TOKEN_KEYS], linked.body["access_token"])
    ).user_id
    assert user_id is not None
    assert [g.client_id for g in await grants.list_for_user(db, user_id)] == [client.client_id]

    revoked = await unlink.revoke_grant(db, hooks, user_id=user_id, client_id=client.client_id)
    assert revoked == 1  # the one grant the exchange made
    with pytest.raises(InvalidToken):
        await authenticate_access_token(db, server.app[TOKEN_KEYS], linked.body["access_token"])
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
    mine = await issue_tokens(server.app, client, user_id="u-1", username="one")
    theirs = await issue_tokens(server.app, client, user_id="u-2", username="two")
    other = await issue_tokens(server.app, other_client, user_id="u-1", username="one")
    await unlink.revoke_grant(db, hooks, user_id="u-1", client_id=client.client_id)
    with pytest.raises(InvalidToken):
        await authenticate_access_token(db, server.app[TOKEN_KEYS], mine["access_token"])
    await authenticate_access_token(db, server.app[TOKEN_KEYS], theirs["access_token"])
    await authenticate_access_token(db, server.app[TOKEN_KEYS], other["access_token"])


async def test_failing_hook_does_not_stop_the_others(
    server: TestServer,
    calls: list[tuple[str, str]],
    hooks: UnlinkHooks,
) -> None:
    db = server.app[DB]
    client, _ = await create_client(db)
    tokens = await issue_tokens(server.app, client, user_id="u-1", username="one")

    async def broken(db: Database, user_id: str, client_id: str) -> None:
        raise RuntimeError("partner store down")

    with pytest.raises(RuntimeError):
        await unlink.revoke_grant(
            db, UnlinkHooks((broken, *hooks.hooks)), user_id="u-1", client_id=client.client_id
        )
    assert calls == [("u-1", client.client_id)]
    with pytest.raises(InvalidToken):  # our own tokens were revoked before the hooks ran
        await authenticate_access_token(db, server.app[TOKEN_KEYS], tokens["access_token"])
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
    tokens = await issue_tokens(server.app, client, user_id="u-1", username="one")
    assert await remove_client(db, hooks, client.client_id, actor="test")
    with pytest.raises(InvalidToken):
        await authenticate_access_token(db, server.app[TOKEN_KEYS], tokens["access_token"])
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
def revoke_after_grant_read(monkeypatch: pytest.MonkeyPatch) -> Callable[[Revocation], None]:
    """Makes the next read of a grant run `revocation` right after it: the revocation lands
    while a token request mints from a grant it read as active."""

    def arm(revocation: Revocation) -> None:
        original = token_grants.get

        async def read_then_revoke(db: Database, grant_id: str) -> TokenGrant | None:
            monkeypatch.setattr(token_grants, "get", original)
            grant = await original(db, grant_id)
            await revocation(db)
            return grant

        monkeypatch.setattr(token_grants, "get", read_then_revoke)

    return arm


@pytest.fixture
def revoke_before_grant_insert(monkeypatch: pytest.MonkeyPatch) -> Callable[[Revocation], None]:
    """Makes the next new grant wait for `revocation`: a code exchange between its checks and
    the grant's insert, which the revocation's multi-document update cannot see yet."""

    def arm(revocation: Revocation) -> None:
        original = token_grants.insert

        async def revoke_then_insert(db: Database, grant: TokenGrant) -> tuple[TokenGrant, bool]:
            monkeypatch.setattr(token_grants, "insert", original)
            await revocation(db)
            return await original(db, grant)

        monkeypatch.setattr(token_grants, "insert", revoke_then_insert)

    return arm


def _unlink(user_id: str, client_id: str) -> Revocation:
    return lambda db: unlink.revoke_grant(db, UnlinkHooks(), user_id=user_id, client_id=client_id)


async def _nothing_usable(
    server: TestServer, base_url: str, answer: Answer, client_id: str, secret: str
) -> None:
    """Whatever a racing token request answered, none of it works from now on."""
    if answer.status != 200:
        return
    db, keyring = server.app[DB], server.app[TOKEN_KEYS]
    with pytest.raises(InvalidToken):
        await authenticate_access_token(db, keyring, answer.body["access_token"])
    if "refresh_token" in answer.body:
        again = await token_request(
            base_url,
            {"grant_type": "refresh_token", "refresh_token": answer.body["refresh_token"]},
            client_id=client_id,
            secret=secret,
        )
        assert again.status == 400 and again.body["error"] == "invalid_grant"


async def test_an_exchange_racing_an_unlink_leaves_no_live_token(
    server: TestServer,
    base_url: str,
    browser: Browser,
    revoke_before_grant_insert: Callable[[Revocation], None],
) -> None:
    db = server.app[DB]
    client, secret = await create_client(db)
    code = await get_code(browser, base_url, client)
    [grant] = await grants.list_for_client(db, client.client_id)
    revoke_before_grant_insert(_unlink(grant.user_id, client.client_id))
    answer = await token_request(
        base_url,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uris[0]},
        client_id=client.client_id,
        secret=secret,
    )
    # The new grant is checked against revocations made since the code was issued.
    assert answer.status == 400 and answer.body["error"] == "invalid_grant"
    [stored] = await db[token_grants.COLLECTION].find({}).to_list(None)
    assert stored["revoked_at"] is not None


@pytest.mark.parametrize("policy", ["reuse", "rotate"])
async def test_a_refresh_racing_an_unlink_leaves_no_live_token(
    server: TestServer,
    base_url: str,
    policy: str,
    revoke_after_grant_read: Callable[[Revocation], None],
) -> None:
    db = server.app[DB]
    client, secret = await create_client(db, refresh_policy=policy)
    tokens = await issue_tokens(server.app, client, user_id="u-1", username="one")
    revoke_after_grant_read(_unlink("u-1", client.client_id))
    answer = await token_request(
        base_url,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        client_id=client.client_id,
        secret=secret,
    )
    await _nothing_usable(server, base_url, answer, client.client_id, secret)
    with pytest.raises(InvalidToken):
        await authenticate_access_token(db, server.app[TOKEN_KEYS], tokens["access_token"])


@pytest.mark.parametrize("policy", ["reuse", "rotate"])
async def test_a_refresh_racing_the_revocation_of_its_token_leaves_no_live_token(
    server: TestServer,
    base_url: str,
    policy: str,
    revoke_after_grant_read: Callable[[Revocation], None],
) -> None:
    db = server.app[DB]
    client, secret = await create_client(db, refresh_policy=policy)
    tokens = await issue_tokens(server.app, client, user_id="u-1", username="one")
    auth = {"Authorization": basic_auth(client.client_id, secret)}
    revoke_after_grant_read(
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
    await _nothing_usable(server, base_url, answer, client.client_id, secret)


async def test_a_token_request_racing_the_removal_of_its_client_leaves_no_live_token(
    server: TestServer,
    base_url: str,
    revoke_after_grant_read: Callable[[Revocation], None],
) -> None:
    db = server.app[DB]
    client, secret = await create_client(db, grant_types=["client_credentials"], scopes=[])
    first = await token_request(
        base_url, {"grant_type": "client_credentials"}, client_id=client.client_id, secret=secret
    )
    assert first.status == 200
    revoke_after_grant_read(
        lambda db: remove_client(db, UnlinkHooks(), client.client_id, actor="test")
    )
    answer = await token_request(
        base_url, {"grant_type": "client_credentials"}, client_id=client.client_id, secret=secret
    )
    await _nothing_usable(server, base_url, answer, client.client_id, secret)
    with pytest.raises(InvalidToken):
        await authenticate_access_token(db, server.app[TOKEN_KEYS], first.body["access_token"])


async def test_a_first_token_request_racing_the_removal_of_its_client_gets_nothing(
    server: TestServer,
    base_url: str,
    revoke_before_grant_insert: Callable[[Revocation], None],
) -> None:
    """The client's own grant is made on its first client_credentials request: a removal
    between reading the client and storing that grant is caught after the insert."""
    db = server.app[DB]
    client, secret = await create_client(db, grant_types=["client_credentials"], scopes=[])
    revoke_before_grant_insert(
        lambda db: remove_client(db, UnlinkHooks(), client.client_id, actor="test")
    )
    answer = await token_request(
        base_url, {"grant_type": "client_credentials"}, client_id=client.client_id, secret=secret
    )
    assert answer.status == 401 and answer.body["error"] == "invalid_client"
