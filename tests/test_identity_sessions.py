"""Browser sessions follow the user in Keycloak: a user disabled there is logged out of our
pages, and an admin removed from the `admin` role gets 403 on /admin, both within the sync
interval (service/identity_sync.py, service/user_directory.py). Real Keycloak, real logins."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiohttp import web

from service.app import create_app
from service.settings import Settings
from tests.support.browser import Browser, Page
from tests.support.identity import PASSWORD, RealmUsers, realm_users, within

SYNC = 0.5  # ALS_KEYCLOAK_SYNC_SECONDS of these tests
PROMISE = 10.0  # within a minute in production; measured here ≈ 0.5-1 s


@pytest.fixture
def make_app(settings: Settings) -> Callable[..., web.Application]:
    def factory(**changes: Any) -> web.Application:
        return create_app(settings.with_(keycloak_sync_seconds=SYNC, **changes))

    return factory


@pytest.fixture
def users() -> Iterator[RealmUsers]:
    with realm_users() as made:
        yield made


async def test_a_user_disabled_in_keycloak_is_logged_out(
    base_url: str, browser: Browser, users: RealmUsers
) -> None:
    user = users.create()
    page = await browser.login(base_url, user.username, PASSWORD, next_path="/account")
    assert page.status == 200 and page.url == f"{base_url}/account"

    users.disable(user.id)

    async def account() -> Page:
        return await browser.get(f"{base_url}/account")

    # Our session is over: /account sends the browser to log in at Keycloak again.
    page, elapsed = await within(
        PROMISE, account, lambda p: not p.url.startswith(f"{base_url}/account")
    )
    assert "/realms/" in page.url, page.url
    assert elapsed < PROMISE


async def test_an_admin_removed_from_the_role_gets_403(
    base_url: str, browser: Browser, users: RealmUsers
) -> None:
    admin = users.create("admin", roles=("admin",))
    page = await browser.login(base_url, admin.username, PASSWORD, next_path="/admin")
    assert page.status == 200 and page.url == f"{base_url}/admin"

    users.remove_realm_role(admin.id, "admin")

    async def admin_page() -> Page:
        return await browser.get(f"{base_url}/admin")

    page, elapsed = await within(PROMISE, admin_page, lambda p: p.status != 200)
    assert page.status == 403
    assert elapsed < PROMISE
    # Still logged in: only the admin pages are closed.
    assert (await browser.get(f"{base_url}/account")).status == 200
