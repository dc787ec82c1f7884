"""The account page: a customer sees their linked apps and removes one."""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin

from aiohttp.test_utils import TestServer
from yarl import URL

from service.web.appkeys import DB
from tests.support.browser import Browser, Page
from tests.support.oauth import create_client, exchange_data, get_code, token_request


async def _link(server: TestServer, base_url: str, browser: Browser) -> tuple[str, str, str]:
    client, secret = await create_client(server.app[DB], name="Baby Tracker skill")
    code = await get_code(browser, base_url, client)
    answer = await token_request(
        base_url, exchange_data(code, client), client_id=client.client_id, secret=secret
    )
    assert answer.status == 200
    return client.client_id, secret, answer.body["refresh_token"]


async def test_account_lists_linked_app(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client_id, _, _ = await _link(server, base_url, browser)
    page = await browser.get(f"{base_url}/account")
    assert page.status == 200
    assert "Baby Tracker skill" in page.text and client_id in page.text


def _remove_link(page: Page, client_id: str) -> str:
    """The account page's "Remove…" link of that app: to its confirmation page."""
    links = [html.unescape(m) for m in re.findall(r'href="([^"]*/account/remove[^"]*)"', page.text)]
    [link] = [u for u in links if URL(u).query.get("client_id") == client_id]
    return urljoin(page.url, link)


async def test_removing_a_link_revokes_refresh_token(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client_id, secret, refresh = await _link(server, base_url, browser)
    page = await browser.get(f"{base_url}/account")
    assert not page.forms[1:], "the account page removes nothing without a confirmation"
    confirm = await browser.get(_remove_link(page, client_id))
    assert confirm.status == 200 and "Remove the link with" in confirm.text
    assert "Baby Tracker skill" in confirm.text
    # Looking at the confirmation page removes nothing; its Cancel goes back to the list.
    assert client_id in (await browser.get(f"{base_url}/account")).text
    assert 'href="/account"' in confirm.text
    after = await browser.submit(confirm, confirm.form(id="remove-form"))
    assert after.status == 200 and 'id="notice"' in after.text
    assert 'id="no-links"' in after.text
    answer = await token_request(
        base_url,
        {"grant_type": "refresh_token", "refresh_token": refresh},
        client_id=client_id,
        secret=secret,
    )
    assert answer.status == 400 and answer.body["error"] == "invalid_grant"


async def test_confirming_the_removal_of_an_app_that_is_not_linked_goes_back_to_the_list(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    await browser.login(base_url, "user")
    page = await browser.get(f"{base_url}/account/remove?client_id=no-such-app")
    assert page.url == f"{base_url}/account" and 'id="no-links"' in page.text


async def test_revoke_needs_csrf_token(server: TestServer, base_url: str, browser: Browser) -> None:
    client_id, _, _ = await _link(server, base_url, browser)
    page = await browser.request(
        "POST", f"{base_url}/account/revoke", data={"client_id": client_id, "csrf_token": "forged"}
    )
    assert page.status == 403
    assert client_id in (await browser.get(f"{base_url}/account")).text


async def test_account_page_requires_login(base_url: str, browser: Browser) -> None:
    page = await browser.get(f"{base_url}/account")
    assert "kc-form-login" in page.text  # sent to Keycloak's login page
    page = await browser.keycloak_login(page, "user", "password")
    assert page.url == f"{base_url}/account"
