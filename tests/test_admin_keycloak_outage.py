"""The admin's user page while Keycloak's admin API does not answer (issue 13): a fast, honest
page with what we store and a note saying Keycloak did not answer, never a 500. Keycloak is the
real one, reached through a gate (a TCP forwarder) that the test shuts after the admin logged
in."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from service.app import create_app
from service.settings import Settings
from service.web.appkeys import DB
from tests.support.browser import Browser
from tests.support.identity import Gate, keycloak_gate
from tests.support.oauth import create_client, issue_tokens


@pytest.fixture
async def gate() -> AsyncIterator[Gate]:
    async with keycloak_gate() as opened:
        yield opened


@pytest.fixture
def make_app(settings: Settings, gate: Gate) -> Callable[..., web.Application]:
    def factory(**changes: Any) -> web.Application:
        return create_app(settings.with_(**{"keycloak_url": gate.url, **changes}))

    return factory


async def test_user_page_without_keycloak_shows_what_we_store_and_says_so(
    server: TestServer, base_url: str, browser: Browser, gate: Gate
) -> None:
    client, _ = await create_client(server.app[DB], client_id="kc-down", name="While Down")
    await issue_tokens(server.app, client, user_id="u-kc-down", username="stored-name")
    # Keycloak, reached through the gate, marks its cookies Secure: loopback counts as secure.
    await browser.session.close()
    browser.session = aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[URL(gate.url).origin()])
    )
    await browser.login(base_url, "admin")
    before = await browser.get(f"{base_url}/admin/users/u-kc-down")
    assert before.status == 200 and 'id="user-name"' in before.text, before.url
    assert 'id="keycloak-note"' in before.text  # Keycloak answers: it has no such user
    assert "Keycloak has no user with this id" in before.text
    await gate.shut()
    started = time.monotonic()
    page = await browser.get(f"{base_url}/admin/users/u-kc-down")
    elapsed = time.monotonic() - started
    assert page.status == 200, page.text[:500]
    assert elapsed < 3.0
    assert "Keycloak did not answer" in page.text
    assert "stored-name" in page.text and "(as we stored it)" in page.text
    assert "While Down" in page.text
