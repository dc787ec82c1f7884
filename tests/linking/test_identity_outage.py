"""While Keycloak does not answer: our tokens, refreshes and links keep working, a username
cannot be resolved (503) while an id can, the admin role check keeps its last known answer, and
a user disabled meanwhile loses everything once Keycloak answers again. Keycloak is the real
one, reached through a gate (a TCP forwarder) that the test shuts and opens."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from aiohttp import web

from service.app import create_app
from service.keycloak_admin import KeycloakAdminClient, KeycloakAdminUnavailable
from service.models.identity import User
from service.settings import Settings
from service.user_directory import UserDirectory
from tests.support.fixture_types import AiohttpServer
from tests.support.identity import Gate, RealmUsers, keycloak_gate, realm_users, within
from tests.support.linking import Linking, bearer, call
from tests.support.oauth import create_client, issue_tokens, token_request

SYNC = 0.5
PROMISE = 10.0


@pytest.fixture
async def gate() -> AsyncIterator[Gate]:
    async with keycloak_gate() as opened:
        yield opened


@pytest.fixture
def make_app(settings: Settings, gate: Gate) -> Callable[..., web.Application]:
    def factory(**changes: Any) -> web.Application:
        return create_app(
            settings.with_(**{"keycloak_url": gate.url, "keycloak_sync_seconds": SYNC, **changes})
        )

    return factory


@pytest.fixture
def users() -> Iterator[RealmUsers]:
    with realm_users() as made:
        yield made


async def test_an_outage_changes_nothing_and_what_happened_meanwhile_applies_after(
    linking: Linking, users: RealmUsers, gate: Gate, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service.contexts")
    user = users.create()
    client, secret = await create_client(linking.db)
    tokens = await issue_tokens(linking.app, client, user_id=user.id, username=user.username)
    await linking.link(user.id, user.username)

    await gate.shut()
    users.disable(user.id)  # straight at Keycloak: the service cannot see it
    await asyncio.sleep(4 * SYNC)  # several rounds of the sync, all failing

    # Ids work, usernames cannot be resolved: a fast, honest 503.
    assert (await linking.partner_token(user.id)).status == 200
    by_name = await linking.partner_token(user.username)
    assert (by_name.status, by_name.body["error"]) == (503, "temporarily_unavailable")
    assert by_name.headers["Retry-After"] == "5"
    # Our tokens keep working; refresh never asks Keycloak.
    me = await call("GET", f"{linking.base_url}/api/me", headers=bearer(tokens["access_token"]))
    assert me.status == 200
    refreshed = await token_request(
        linking.base_url,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        client_id=client.client_id,
        secret=secret,
    )
    assert refreshed.status == 200
    paused = [r for r in caplog.records if r.getMessage().startswith("identity sync paused")]
    assert len(paused) == 1, [r.getMessage() for r in caplog.records]  # said once, not per round

    await gate.open()
    await within(
        PROMISE,
        lambda: call("GET", f"{linking.base_url}/api/me", headers=bearer(tokens["access_token"])),
        lambda a: a.status == 401,
    )
    ended, _ = await within(
        PROMISE, lambda: linking.partner_token(user.id), lambda a: a.status != 200
    )
    assert ended.status == 409

    async def messages() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "service.contexts"]

    await within(PROMISE, messages, lambda said: "identity sync works again" in said)


async def test_the_admin_role_check_keeps_its_last_known_answer_while_keycloak_is_down(
    settings: Settings, users: RealmUsers, gate: Gate
) -> None:
    keycloak = KeycloakAdminClient(settings.with_(keycloak_url=gate.url))
    directory = UserDirectory(keycloak, SYNC)
    try:
        made = users.create("admin", roles=("admin",))
        admin = User(made.id, made.username, frozenset({"admin"}))  # as the login saw them
        assert await directory.is_admin(admin, roles_read_at=None) is True
        users.remove_realm_role(made.id, "admin")
        await asyncio.sleep(SYNC)
        assert await directory.is_admin(admin, roles_read_at=None) is False

        await gate.shut()
        await asyncio.sleep(SYNC)
        # The last answer Keycloak gave stands; for a user never read, the login's answer.
        assert await directory.is_admin(admin, roles_read_at=None) is False
        other = users.create("admin", roles=("admin",))
        unread = User(other.id, other.username, frozenset({"admin"}))
        assert await directory.is_admin(unread, roles_read_at=None) is True
    finally:
        await keycloak.close()


async def test_one_process_at_a_time_reads_the_events(
    make_app: Callable[..., web.Application], aiohttp_server: AiohttpServer, gate: Gate
) -> None:
    """Two server processes on one database (as `serve --workers 2`): the lease in Mongo makes
    one of them do each round, so Keycloak is asked about once per interval, not twice."""
    interval = 0.25
    await aiohttp_server(make_app(keycloak_sync_seconds=interval))
    await aiohttp_server(make_app(keycloak_sync_seconds=interval))
    rounds = 8
    before = gate.admin_event_reads
    await asyncio.sleep(rounds * interval)
    reads = gate.admin_event_reads - before
    # One process alone: ≈ `rounds`; both, each on its own: twice as many.
    assert rounds // 2 <= reads <= rounds * 1.4, reads


async def test_a_refused_service_account_is_named(settings: Settings) -> None:
    """A realm where our client has no service account (or a wrong secret): every lookup is
    a 503 that says so, never a crash or a wrong answer."""
    keycloak = KeycloakAdminClient(settings.with_(keycloak_client_secret="not-the-secret-at-all"))
    try:
        with pytest.raises(KeycloakAdminUnavailable) as refused:
            await keycloak.user_by_username("user")
        assert refused.value.status == 503
        assert "refused our service account" in refused.value.description
    finally:
        await keycloak.close()
