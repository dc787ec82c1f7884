"""Identity changes in Keycloak reach our tokens and links (service/identity_sync.py), and a
username given to the partner API names the user who has it in Keycloak now
(service/user_directory.py). Against the real Keycloak: users are made in the shared dev realm
for each test and changed through its admin API, as an administrator does in the console."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web

from service.app import create_app
from service.clock import utcnow
from service.models.oauth import AuthorizationCode, OAuthClient
from service.oauth.token_values import new_grant_id, new_secret_value, secret_hash
from service.settings import Settings
from service.storage import authorization_codes, grants
from tests.support.identity import RealmUser, RealmUsers, realm_users, within
from tests.support.linking import Answer, Linking, bearer, call
from tests.support.oauth import create_client, issue_stored_tokens, issue_tokens, token_request

SYNC = 0.5  # ALS_KEYCLOAK_SYNC_SECONDS of these tests
# Changes must apply within a minute; here, with a half-second interval, within this (the
# slack is for a loaded machine: measured ≈ 0.3-0.8 s).
PROMISE = 10.0


@pytest.fixture
def make_app(settings: Settings) -> Callable[..., web.Application]:
    def factory(**changes: Any) -> web.Application:
        return create_app(settings.with_(keycloak_sync_seconds=SYNC, **changes))

    return factory


@pytest.fixture
def users() -> Any:
    with realm_users() as made:
        yield made


async def me(linking: Linking, token: str) -> Answer:
    return await call("GET", f"{linking.base_url}/api/me", headers=bearer(token))


async def refresh(linking: Linking, client: OAuthClient, secret: str, token: str) -> Any:
    return await token_request(
        linking.base_url,
        {"grant_type": "refresh_token", "refresh_token": token},
        client_id=client.client_id,
        secret=secret,
    )


async def pending_code(linking: Linking, client: OAuthClient, user: RealmUser) -> str:
    """A code the user got just now, not yet exchanged (as /oauth/authorize stores it)."""
    value, now = new_secret_value(), utcnow()
    await authorization_codes.insert(
        linking.db,
        AuthorizationCode(
            code_hash=secret_hash(value),
            client_id=client.client_id,
            redirect_uri=client.redirect_uris[0],
            user_id=user.id,
            username=user.username,
            scopes=frozenset({"profile"}),
            code_challenge=None,
            code_challenge_method=None,
            grant_id=new_grant_id(),
            created_at=now,
            expires_at=now + timedelta(seconds=300),
        ),
    )
    return value


@pytest.mark.parametrize("change", ["disable", "delete"])
async def test_a_user_disabled_or_deleted_in_keycloak_loses_tokens_codes_and_links(
    linking: Linking, users: RealmUsers, change: str
) -> None:
    user = users.create()
    client, secret = await create_client(linking.db)
    tokens = await issue_tokens(linking.app, client, user_id=user.id, username=user.username)
    stored = await issue_stored_tokens(linking.db, client, user_id=user.id, username=user.username)
    code = await pending_code(linking, client, user)
    await linking.link(user.id, user.username)
    assert (await me(linking, tokens["access_token"])).status == 200
    assert (await me(linking, stored["access_token"])).status == 200
    assert (await linking.partner_token(user.id)).status == 200

    if change == "disable":
        users.disable(user.id)
    else:
        users.delete(user.id)

    answer, elapsed = await within(
        PROMISE, lambda: me(linking, tokens["access_token"]), lambda a: a.status == 401
    )
    assert answer.body["error"] == "invalid_token"
    assert elapsed < PROMISE
    # The user's grants go first; then the rest, the audit record last.
    await within(
        PROMISE,
        lambda: linking.audit_actions(user.id),
        lambda actions: f"identity.user_{change}d" in actions,
    )
    assert (await me(linking, stored["access_token"])).status == 401
    for refresh_token in (tokens["refresh_token"], stored["refresh_token"]):
        refused = await refresh(linking, client, secret, refresh_token)
        assert (refused.status, refused.body["error"]) == (400, "invalid_grant")
    exchange = await token_request(
        linking.base_url,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": client.redirect_uris[0],
        },
        client_id=client.client_id,
        secret=secret,
    )
    assert (exchange.status, exchange.body["error"]) == (400, "invalid_grant")
    # The partner API: the link ended with the user (the LWA tokens are deleted).
    ended = await linking.partner_token(user.id)
    assert (ended.status, ended.body["error"]) == (409, "link_revoked")
    doc = await linking.link_doc(user.id)
    assert doc is not None and doc["access_token_enc"] is None
    assert doc["status_reason"] == f"user_{change}d"


async def test_a_user_enabled_again_keeps_what_they_got_after(
    linking: Linking, users: RealmUsers
) -> None:
    """Disabled and enabled again before the sync ran: what the user had before ends, what
    they got after being enabled stays, also when the sync reads the event again."""
    user = users.create()
    before = await linking.user_token(user.id, user.username)
    users.disable(user.id)
    users.enable(user.id)
    after = await linking.user_token(user.id, user.username)
    await within(PROMISE, lambda: me(linking, before), lambda a: a.status == 401)
    await linking.link(user.id, user.username)  # linked with the token got after
    await asyncio.sleep(4 * SYNC)  # more rounds of the sync
    assert (await me(linking, after)).status == 200
    assert (await linking.partner_token(user.id)).status == 200


async def test_a_username_names_the_user_who_has_it_in_keycloak_now(
    linking: Linking, users: RealmUsers
) -> None:
    alice = users.create("name")
    await linking.link(alice.id, alice.username)
    by_id = await linking.partner_token(alice.id)
    assert by_id.status == 200
    by_name = await linking.partner_token(alice.username.upper())  # Keycloak ignores case
    assert by_name.status == 200
    assert by_name.body["access_token"] == by_id.body["access_token"]
    assert (await linking.profile_report(user_id=alice.username)).status == 202
    # A name Keycloak cannot hold or refuses to search for names nobody: 404, not 503.
    for impossible in ("a\x00b", "x" * 300):
        refused = await linking.partner_token(impossible, method="POST")
        assert (refused.status, refused.body["error"]) == (404, "link_not_found")

    # Renamed in Keycloak: the old name names nobody, the new one names her.
    old_name, new_name = alice.username, alice.username + "-renamed"
    users.rename(alice.id, new_name)
    gone, elapsed = await within(
        PROMISE, lambda: linking.partner_token(old_name), lambda a: a.status != 200
    )
    assert (gone.status, gone.body["error"]) == (404, "link_not_found")
    renamed = await linking.partner_token(new_name)
    assert renamed.body["access_token"] == by_id.body["access_token"]

    # Her old name is taken by someone else: it names him, never her link.
    bob = users.create(username=old_name)
    assert (await linking.partner_token(old_name)).status == 404  # he has not linked
    await linking.link(bob.id, bob.username)
    his = await linking.partner_token(bob.id)
    answer, _ = await within(
        PROMISE, lambda: linking.partner_token(old_name), lambda a: a.status == 200
    )
    assert answer.body["access_token"] == his.body["access_token"] != by_id.body["access_token"]
    assert elapsed < PROMISE


async def test_a_user_renamed_in_keycloak_is_found_by_the_new_name(
    linking: Linking, users: RealmUsers
) -> None:
    """The admin's customer search uses the names stored with the consents; a rename in
    Keycloak reaches them through the admin events, without waiting for the user's login."""
    carol = users.create(prefix="carol")
    client, _ = await create_client(linking.db)
    await grants.remember(
        linking.db,
        user_id=carol.id,
        username=carol.username,
        client_id=client.client_id,
        scopes=frozenset({"profile"}),
    )
    new_name = "renamed-" + carol.username
    users.rename(carol.id, new_name)

    async def found() -> list[str]:
        return [g.user_id for g in await grants.search(linking.db, new_name, skip=0, limit=5)]

    hits, _ = await within(PROMISE, found, lambda ids: carol.id in ids)
    assert hits == [carol.id]
    assert await grants.search(linking.db, carol.username, skip=0, limit=5) == []
