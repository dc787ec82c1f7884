"""The linking pages in a real phone-sized browser without JavaScript, as in the Alexa app's
webview: Keycloak login, our consent page, and the redirect back to Alexa with code and state."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Route

from service.web.appkeys import DB
from tests.support.chromium import CHROMIUM, chromium
from tests.support.oauth import ALEXA_REDIRECT_URIS, authorize_url, create_client

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="make test installs Debian's chromium"),
]


async def test_linking_works_in_a_phone_webview_without_scripts(
    server: TestServer, base_url: str
) -> None:
    client, _ = await create_client(server.app[DB], name="Baby Activity")
    landed: list[str] = []

    async def alexa(route: Route) -> None:  # Amazon is not reachable from here
        landed.append(route.request.url)
        await route.fulfill(status=200, body="linked")

    async with chromium() as browser:
        context = await browser.new_context(
            viewport={"width": 360, "height": 640}, java_script_enabled=False, is_mobile=True
        )
        page = await context.new_page()
        await page.route("https://pitangui.amazon.com/**", alexa)
        await page.goto(authorize_url(base_url, client, state="webview-state"))
        await page.fill("#username", "user")
        await page.fill("#password", "password")
        await page.click("#kc-login")
        await page.wait_for_selector("#consent-form")
        assert await page.text_content("#client-name") == "Baby Activity"
        allow = page.locator("button[name=approve]")
        box = await allow.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360
        await allow.click()
        await page.wait_for_url("https://pitangui.amazon.com/**")
        await context.close()
    assert landed and landed[0].startswith(ALEXA_REDIRECT_URIS[0] + "?")
    params = parse_qs(urlsplit(landed[0]).query)
    assert params["state"] == ["webview-state"] and params["code"][0]
