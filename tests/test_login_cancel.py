"""Leaving the login returns to Alexa: when Keycloak answers our callback with an error instead
of a code for a login that an Alexa authorization request started, the customer goes back to
Alexa's redirect URI with `error=access_denied` and Alexa's unchanged `state` (RFC 6749
§4.1.2.1), not to our start page; an error we do not know ends on a readable page with a way
back to the Alexa app; a client that no longer checks out gets no redirect."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from aiohttp.test_utils import TestServer

from service.models.oauth import OAuthClient
from service.oauth.clients import remove_client
from service.web.appkeys import DB, UNLINK_HOOKS
from tests.support.browser import Browser, Page
from tests.support.oauth import ALEXA_REDIRECT_URIS, authorize_url, create_client

ALEXA_STATE = "A1exa+state/with:odd=chars&more"


async def _at_keycloak(browser: Browser, base_url: str, client: OAuthClient, **params: str) -> Page:
    """Alexa opens our authorize URL; the customer is not logged in, so we send them to
    Keycloak's login page (where the test stops)."""
    page = await browser.get(authorize_url(base_url, client, state=ALEXA_STATE, **params))
    assert 'id="kc-form-login"' in page.text
    return page


def _our_state(keycloak_page: Page) -> str:
    return parse_qs(urlsplit(keycloak_page.url).query)["state"][0]


def _callback(base_url: str, state: str, **error: str) -> str:
    return f"{base_url}/login/callback?" + urlencode({"state": state, **error})


def _back_at_alexa(page: Page) -> dict[str, str]:
    """Alexa's error and state, where the browser was sent off this machine."""
    assert page.redirect_to and page.redirect_to.startswith(ALEXA_REDIRECT_URIS[0] + "?"), (
        page.status,
        page.url,
        page.text[:500],
    )
    return {k: v for k, v in page.redirect_params.items() if k != "error_description"}


async def test_a_login_keycloak_refuses_without_interaction_returns_to_alexa(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    """The real Keycloak's answer: the login page asked with prompt=none and nobody logged in
    there, so Keycloak sends `error=login_required` to our callback."""
    client, _ = await create_client(server.app[DB])
    keycloak = await _at_keycloak(browser, base_url, client)
    page = await browser.get(keycloak.url + "&prompt=none")
    assert _back_at_alexa(page) == {"error": "access_denied", "state": ALEXA_STATE}


@pytest.mark.parametrize(
    "error",
    [
        {"error": "access_denied"},
        {"error": "consent_required"},
        {"error": "interaction_required"},
        # Keycloak's answer when the login session in that tab expired (docs/flows.md).
        {"error": "temporarily_unavailable", "error_description": "authentication_expired"},
    ],
)
async def test_leaving_the_login_returns_to_alexa_with_access_denied(
    server: TestServer, base_url: str, browser: Browser, error: dict[str, str]
) -> None:
    client, _ = await create_client(server.app[DB])
    keycloak = await _at_keycloak(browser, base_url, client)
    page = await browser.get(_callback(base_url, _our_state(keycloak), **error))
    assert _back_at_alexa(page) == {"error": "access_denied", "state": ALEXA_STATE}
    # The login is over: its state does not work a second time.
    again = await browser.get(_callback(base_url, _our_state(keycloak), **error))
    assert again.status == 400 and again.redirect_to is None


async def test_an_unknown_keycloak_error_shows_a_page_with_a_way_back_to_alexa(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, _ = await create_client(server.app[DB])
    keycloak = await _at_keycloak(browser, base_url, client)
    page = await browser.get(_callback(base_url, _our_state(keycloak), error="server_error"))
    assert page.status == 400 and page.redirect_to is None
    assert "The login did not finish" in page.text
    back = re.search(r'id="back-to-app" href="([^"]+)"', page.text)
    assert back, page.text
    target = urlsplit(html.unescape(back.group(1)))
    assert f"{target.scheme}://{target.netloc}{target.path}" == ALEXA_REDIRECT_URIS[0]
    query = parse_qs(target.query)
    assert query["error"] == ["access_denied"] and query["state"] == [ALEXA_STATE]


async def test_the_page_speaks_the_language_the_authorize_request_asked_for(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, _ = await create_client(server.app[DB])
    keycloak = await _at_keycloak(browser, base_url, client, ui_locales="de")
    assert "ui_locales=de" in keycloak.url  # Keycloak's page in German: test_browser_language
    page = await browser.get(_callback(base_url, _our_state(keycloak), error="server_error"))
    assert '<html lang="de"' in page.text and "Zurück zur Alexa-App" in page.text


async def test_a_client_removed_during_the_login_gets_no_redirect(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    db = server.app[DB]
    client, _ = await create_client(db)
    keycloak = await _at_keycloak(browser, base_url, client)
    await remove_client(db, server.app[UNLINK_HOOKS], client.client_id, actor="test")
    page = await browser.get(_callback(base_url, _our_state(keycloak), error="access_denied"))
    assert page.status == 400 and page.redirect_to is None
    assert "The login was cancelled." in page.text and 'id="back-to-app"' not in page.text


async def test_a_cancelled_login_of_our_own_pages_says_so(base_url: str, browser: Browser) -> None:
    keycloak = await browser.get(f"{base_url}/login?next=/account")
    page = await browser.get(_callback(base_url, _our_state(keycloak), error="access_denied"))
    assert page.status == 400 and page.redirect_to is None
    assert "The login was cancelled." in page.text
    assert 'id="back-to-app"' not in page.text and 'href="/"' in page.text
