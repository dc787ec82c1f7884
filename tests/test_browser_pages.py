"""The customer's pages in a real phone-sized chromium: a German browser gets Keycloak's login
page and our consent page in German, in our login theme; and every page a customer sees fits a
360x740 screen without scrolling sideways, in English, German and Arabic (right to left)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import BrowserContext, Page, Route, ViewportSize

from service.web.appkeys import DB
from tests.support.chromium import CHROMIUM, chromium
from tests.support.oauth import authorize_url, create_client

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="make test installs Debian's chromium"),
]

PHONE: ViewportSize = {"width": 360, "height": 740}
# The colour of our pages' header band (templates/base.html), which the login theme
# (keycloak/themes/alexa-linking) gives Keycloak's header too.
BAND = "rgb(35, 47, 62)"


async def _alexa(route: Route) -> None:  # Amazon is not reachable from here
    await route.fulfill(status=200, body="linked")


async def _phone(browser_context: BrowserContext) -> Page:
    page = await browser_context.new_page()
    await page.route("https://*.amazon.com/**", _alexa)
    return page


async def _log_in(page: Page) -> None:
    await page.fill("#username", "user")
    await page.fill("#password", "password")
    await page.click("#kc-login")


async def test_a_german_browser_gets_keycloak_and_our_pages_in_german(
    server: TestServer, base_url: str
) -> None:
    client, _ = await create_client(server.app[DB], name="Babytagebuch")
    async with chromium() as browser:
        context = await browser.new_context(viewport=PHONE, is_mobile=True, locale="de-DE")
        page = await _phone(context)
        await page.goto(authorize_url(base_url, client))
        # Keycloak's login page: German, in our theme (our name and colours).
        assert await page.get_attribute("html", "lang") == "de"
        assert (await page.inner_text("#kc-login")).strip() == "Anmelden"
        assert (await page.inner_text("#kc-header-wrapper")).strip() == "Kontoverknüpfung"
        band = await page.eval_on_selector("#kc-header", "e => getComputedStyle(e).backgroundColor")
        assert band == BAND
        await _log_in(page)
        await page.wait_for_selector("#consent-form")
        assert await page.get_attribute("html", "lang") == "de"
        assert "Ihr Konto verwenden?" in await page.inner_text("h1")
        assert (await page.inner_text("button[name=approve]")).strip() == "Erlauben"
        band = await page.eval_on_selector("header", "e => getComputedStyle(e).backgroundColor")
        assert band == BAND
        await context.close()


async def _fits(page: Page, shots: Path, name: str) -> None:
    await page.screenshot(path=str(shots / f"{name}.png"))
    width = await page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1] == PHONE["width"], f"{name}: {width[0]}px wide content"


@pytest.mark.parametrize("locale", ["en-US", "de-DE", "ar"])
async def test_every_customer_page_fits_a_phone(
    server: TestServer, base_url: str, tmp_path: Path, locale: str
) -> None:
    db = server.app[DB]
    # Long names and ids, as real ones can be.
    client, _ = await create_client(
        db,
        name="Baby Activity Tracker for Twins and Triplets (Kinderzimmerüberwachung)",
        client_id="amzn-skill-" + "0123456789abcdef" * 3,
    )
    other, _ = await create_client(db, name="Sleep Diary")
    async with chromium() as browser:
        context = await browser.new_context(viewport=PHONE, is_mobile=True, locale=locale)
        page = await _phone(context)
        await page.goto(f"{base_url}/")
        await _fits(page, tmp_path, "home-logged-out")
        scopes = "profile alexa::health:profile:write"
        await page.goto(authorize_url(base_url, client, scope=scopes))
        await _fits(page, tmp_path, "keycloak-login")
        await _log_in(page)
        await page.wait_for_selector("#consent-form")
        await _fits(page, tmp_path, "consent")
        await page.click("button[name=approve]")
        await page.wait_for_url("https://pitangui.amazon.com/**")
        for name, path in [
            ("home", "/"),
            ("account", "/account"),
            ("remove", f"/account/remove?client_id={client.client_id}"),
            ("error", "/oauth/authorize?client_id=nobody"),
            ("not-found", "/no/such/page"),
        ]:
            await page.goto(base_url + path)
            await _fits(page, tmp_path, name)
        # A login for Alexa that Keycloak ends with an error we do not know: the page with
        # the way back to the Alexa app (our callback, with the state of a fresh login).
        alexa_request = authorize_url(base_url, other).removeprefix(base_url)
        started = await page.request.get(
            f"{base_url}/login?{urlencode({'next': alexa_request})}", max_redirects=0
        )
        state = parse_qs(urlsplit(started.headers["location"]).query)["state"][0]
        await page.goto(f"{base_url}/login/callback?state={state}&error=server_error")
        assert await page.is_visible("#back-to-app")
        await _fits(page, tmp_path, "login-ended")
        await context.close()
