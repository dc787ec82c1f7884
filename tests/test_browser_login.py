"""A real browser (Debian's chromium) logs in through Keycloak's page and out again."""

from __future__ import annotations

import pytest

from tests.support.chromium import CHROMIUM, chromium

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="make test installs Debian's chromium"),
]


async def test_login_and_logout_in_chromium(base_url: str, tmp_path: object) -> None:
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 390, "height": 844})  # a phone
        await page.goto(f"{base_url}/login")
        await page.fill("#username", "user")
        await page.fill("#password", "password")
        await page.click("#kc-login")
        await page.wait_for_url(f"{base_url}/")
        assert await page.text_content("#username") == "user"
        await page.click("text=Log out")
        await page.wait_for_url(f"{base_url}/")
        assert await page.locator("#username").count() == 0
        await page.goto(f"{base_url}/login")
        assert await page.locator("#password").count() == 1
