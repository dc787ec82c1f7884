"""The customer's journey of "Link with Alexa" in Chromium (app-to-app account linking started
on our account page, docs/alexa-protocols.md §5): log in, press the button, allow at Amazon's
(the stand-in's) LWA page, land on our result page; Alexa now holds tokens it got from our
`/oauth/token`; the account page shows the link; "Unlink" disables the skill at Amazon and our
refresh token stops working. The button's form leads to LWA, so Chromium's CSP `form-action`
check of the redirect (service/web/security.py) is part of what this proves."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer

from tests.amazon_standin import DEFAULT_AMAZON_USER, AmazonStandIn
from tests.support.alexa_link import SKILL_ID, set_up
from tests.support.chromium import CHROMIUM, chromium
from tests.support.linking import LWA_CLIENT_ID, LWA_SECRET

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="make test installs Debian's chromium"),
]


@pytest.fixture
async def amazon() -> AsyncIterator[AmazonStandIn]:
    standin = AmazonStandIn(clients={LWA_CLIENT_ID: LWA_SECRET})
    await standin.start()
    yield standin
    await standin.stop()


async def test_link_with_alexa_and_unlink_in_chromium(
    server: TestServer, amazon: AmazonStandIn, base_url: str
) -> None:
    alexa = await set_up(server.app, amazon, base_url)
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 360, "height": 640})
        page = await context.new_page()
        await page.goto(f"{base_url}/account")
        await page.fill("#username", "user")
        await page.fill("#password", "password")
        await page.click("#kc-login")
        skill = page.locator("#alexa-skills li[data-partner-id]")
        await skill.locator("button", has_text="Link with Alexa").click()
        await page.wait_for_selector("#lwa-allow")  # Amazon's consent page
        await page.click("#lwa-allow")
        await page.wait_for_selector("#alexa-linked")
        assert "Baby Activity" in (await page.text_content("#alexa-result") or "")

        held = amazon.enablements[(DEFAULT_AMAZON_USER, SKILL_ID)]
        assert held.enabled and held.redirect_uri == alexa.callback
        assert held.refresh_token is not None
        assert (await alexa.refresh(held.refresh_token)).status == 200  # from our /oauth/token

        await page.click("text=Back to my linked apps")
        await page.wait_for_selector("#alexa-skills li[data-state=linked]")
        assert await page.locator("#links li[data-client-id]").count() == 1  # the consent
        await page.click("#alexa-skills .alexa-unlink button")
        await page.wait_for_selector("#alexa-notice")
        assert await page.locator("#alexa-skills li[data-state=not_linked]").count() == 1
        await context.close()
    assert not held.enabled  # Amazon was asked to disable the skill (DELETE)
    refused = await alexa.refresh(held.refresh_token)
    assert (refused.status, refused.body["error"]) == (400, "invalid_grant")
    assert await alexa.stored() == {
        "enablements": 0,
        "consents": 0,
        "active_grants": 0,
        "live_codes": 0,
    }
