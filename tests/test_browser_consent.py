"""The linking pages in a real phone-sized browser without JavaScript, as in the Alexa app's
webview: Keycloak login, our consent page, and the redirect back to Alexa with code and state;
under the consent page's Content-Security-Policy, whose `form-action` Chromium applies to the
redirect that answers the form too (service/web/security.py)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, Response, Route

from service.storage import authorization_codes
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
        policies: list[str] = []
        page.on("response", lambda r: _consent_policy(r, policies))
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
    # ... under a policy that lets the consent form lead to our origin and Alexa's only.
    assert [_form_action(p) for p in policies] == ["form-action 'self' https://pitangui.amazon.com"]


def _form_action(policy: str) -> str:
    return next(d.strip() for d in policy.split(";") if d.strip().startswith("form-action"))


def _consent_policy(response: Response, policies: list[str]) -> None:
    if "/oauth/authorize?" in response.url and response.status == 200:
        policies.append(response.headers["content-security-policy"])


async def test_chromium_blocks_a_redirect_after_the_form_that_form_action_does_not_name(
    server: TestServer, base_url: str
) -> None:
    """The control: the same consent page with `form-action 'self'` only (as a policy that
    forgot the client's origin would be). Chromium submits the form to us but refuses our
    redirect to Alexa, so the consent page must name the redirect URI's origin."""
    client, _ = await create_client(server.app[DB], name="Baby Activity")
    landed: list[str] = []

    async def alexa(route: Route) -> None:
        landed.append(route.request.url)
        await route.fulfill(status=200, body="linked")

    async def self_only(route: Route) -> None:
        answer = await route.fetch(max_redirects=0)
        headers = {**answer.headers, "content-security-policy": "form-action 'self'"}
        await route.fulfill(response=answer, headers=headers)

    async with chromium() as browser:
        context = await browser.new_context(java_script_enabled=False)
        page = await context.new_page()
        await page.route("https://pitangui.amazon.com/**", alexa)
        await _log_in_to_consent(page, authorize_url(base_url, client))
        await page.route(lambda url: "/oauth/authorize?" in url, self_only)
        await page.goto(authorize_url(base_url, client, state="blocked"))
        await page.wait_for_selector("#consent-form")
        async with page.expect_console_message(
            lambda m: "violates the following Content Security Policy directive" in m.text,
            timeout=15_000,
        ) as violation:
            await page.locator("button[name=approve]").click()
        await context.close()
    # The form reached us (a code was issued: the consent form may post to 'self'); the
    # redirect that answered it did not reach Alexa. (Chromium's report names the form's own
    # URL, not where the redirect went.)
    assert "form-action 'self'" in (await violation.value).text
    assert await server.app[DB][authorization_codes.COLLECTION].count_documents({}) == 1
    assert landed == []


async def _log_in_to_consent(page: Page, url: str) -> None:
    await page.goto(url)
    await page.fill("#username", "user")
    await page.fill("#password", "password")
    await page.click("#kc-login")
    await page.wait_for_selector("#consent-form")
