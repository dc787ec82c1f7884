"""Support in a real chromium as `admin` (issue 13): a customer's Alexa link ended after Alexa's
403; the admin finds the customer by the start of their username, opens their page, reads the
ended link and its reason, ends the remaining link (confirming), and the customer's own account
page then shows nothing linked."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, ViewportSize

from service.storage import grants
from service.web.appkeys import DB
from tests.amazon_standin import AmazonStandIn
from tests.support.browser import Browser
from tests.support.chromium import CHROMIUM, chromium
from tests.support.linking import LWA_CLIENT_ID, LWA_SECRET, PARTNER_ID, set_up_linking
from tests.support.oauth import (
    exchange_data,
    get_code,
    token_request,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="make test installs Debian's chromium"),
]


LAPTOP: ViewportSize = {"width": 1366, "height": 768}


async def _fits(page: Page, shots: Path, name: str) -> None:
    """The page uses the laptop screen's width without scrolling sideways (the screenshot is
    there to look at)."""
    await page.screenshot(path=str(shots / f"admin-{name}.png"), full_page=True)
    width = await page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1] == LAPTOP["width"], f"{name}: {width[0]}px wide"


async def test_admin_finds_a_customer_sees_the_403_and_ends_their_link(
    server: TestServer, base_url: str, browser: Browser, tmp_path: Path
) -> None:
    app, db = server.app, server.app[DB]
    async with AmazonStandIn(clients={LWA_CLIENT_ID: LWA_SECRET}) as amazon:
        linking, secret = await set_up_linking(app, amazon, base_url)
        skill = linking.alexa_client
        # The customer (`user` in Keycloak) links the skill: our consent, then Alexa's LWA code.
        code = await get_code(browser, base_url, skill)
        tokens = await token_request(
            base_url, exchange_data(code, skill), client_id=skill.client_id, secret=secret
        )
        consent = (await grants.search(db, "user", skip=0, limit=1))[0]
        linked = await linking.reciprocal(tokens.body["access_token"], code=linking.lwa_code())
        assert linked.status == 200, linked.body
        # Alexa answers 403 to the next report: the skill was disabled.
        amazon.queue_alexa_responses(403, code="SKILL_DISABLED_EXCEPTION")
        report = await linking.profile_report(user_id=consent.user_id)
        assert report.status == 409

        async with chromium() as chrome:
            context = await chrome.new_context(viewport=LAPTOP)
            page = await context.new_page()
            await page.goto(f"{base_url}/admin")
            await page.fill("#username", "admin")
            await page.fill("#password", "password")
            await page.click("#kc-login")
            await page.wait_for_selector("#counts")
            await page.fill("input[name=q]", "us")  # the start of the username
            await page.press("input[name=q]", "Enter")
            await page.wait_for_selector("#links")
            await _fits(page, tmp_path, "links")
            await page.click("a.user-link:text-is('user')")
            await page.wait_for_selector("#partner-links")
            assert (await page.inner_text("#user-name")).strip() == "user"  # Keycloak's name
            await _fits(page, tmp_path, "user")
            row = page.locator(f"tr.partner-link[data-partner='{PARTNER_ID}']")
            assert "inactive" in await row.inner_text()
            reason = await row.locator(".end-reason").inner_text()
            assert "Alexa answered 403" in reason and "SKILL_DISABLED_EXCEPTION" in reason
            console = await page.get_attribute("#keycloak-console", "href")
            assert console and console.endswith(f"/users/{consent.user_id}/settings")
            # The remaining link: the skill's OAuth link. Ending it asks first.
            await page.click("#consents a.end-link")
            await page.wait_for_selector("#confirm-message")
            await page.click("#confirm")
            await page.wait_for_selector("#consents")
            assert "No linked apps." in await page.inner_text("#consents")
            await context.close()

    # The customer's own account page: nothing linked, and Alexa's token no longer works.
    account = await browser.get(f"{base_url}/account")
    assert account.status == 200 and 'id="no-links"' in account.text
    assert (await linking.partner_token(user_id=consent.user_id)).status in (404, 409)
