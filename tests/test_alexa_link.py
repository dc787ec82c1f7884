"""Linking that starts on our side ("Link with Alexa", app-to-app account linking;
docs/alexa-protocols.md §5): from the account page through the stand-in's LWA consent page,
and from the developer's app through `POST /api/partner/alexa-enablement`. Each failure ends on
a readable page (or an RFC 6749-style JSON error), never a 500, and keeps nothing: no Amazon
tokens, no consent, no live code, no active grant. The whole journey in Chromium is in
test_browser_alexa_link.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
from aiohttp.test_utils import TestServer

from service.oauth import clients as client_domain
from service.storage import partners, skill_enablements
from tests.amazon_standin import DEFAULT_AMAZON_USER, AmazonStandIn
from tests.support.alexa_link import SKILL_ID, AlexaLink, set_up
from tests.support.browser import Browser, Page
from tests.support.linking import LWA_CLIENT_ID, LWA_SECRET, PARTNER_ID

NOTHING = {"enablements": 0, "consents": 0, "active_grants": 0, "live_codes": 0}


@pytest.fixture
async def amazon() -> AsyncIterator[AmazonStandIn]:
    standin = AmazonStandIn(clients={LWA_CLIENT_ID: LWA_SECRET})
    await standin.start()
    yield standin
    await standin.stop()


@pytest.fixture
async def alexa(server: TestServer, amazon: AmazonStandIn, base_url: str) -> AlexaLink:
    return await set_up(server.app, amazon, base_url)


async def _consent_page(
    browser: Browser, alexa: AlexaLink, button: str = "Link with Alexa"
) -> Page:
    """Logged in as `user`: "Link with Alexa" on the account page, up to LWA's page."""
    account = await browser.get(f"{alexa.base_url}/account")
    assert account.status == 200 and 'data-state="not_linked"' in account.text
    assert button in account.text
    consent = await browser.submit(account, account.form(**{"class": "alexa-link"}))
    assert consent.url.startswith(alexa.amazon.authorize_url), consent.url
    return consent


async def _decide(browser: Browser, consent: Page, button: str) -> str:
    """Press Allow or Cancel at LWA; the callback URL it redirects to (not followed)."""
    form = consent.form(action="/ap/oa")
    data = {**form.fields, button: "1"}
    url = urljoin(consent.url, form.action)
    async with browser.session.post(url, data=data, allow_redirects=False) as resp:
        assert resp.status == 302
        return resp.headers["Location"]


async def test_the_consent_request_is_pkce_with_state_and_our_callback(
    browser: Browser, alexa: AlexaLink
) -> None:
    await browser.login(alexa.base_url, "user", next_path="/account")
    consent = await _consent_page(browser, alexa)
    query = parse_qs(urlsplit(consent.url).query)
    assert query["client_id"] == [LWA_CLIENT_ID]
    assert query["scope"] == ["alexa::skills:account_linking"]
    assert query["response_type"] == ["code"]
    assert query["redirect_uri"] == [alexa.callback]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) >= 32


async def test_denial_at_amazon_is_a_readable_page_and_keeps_nothing(alexa: AlexaLink) -> None:
    """… in the customer's language (a German browser here)."""
    browser = Browser(accept_language="de")
    try:
        await browser.login(alexa.base_url, "user", next_path="/account")
        consent = await _consent_page(browser, alexa, button="Mit Alexa verknüpfen")
        page = await browser.get(await _decide(browser, consent, "deny"))
    finally:
        await browser.close()
    assert page.status == 403
    assert "Sie haben die Verknüpfung bei Amazon nicht erlaubt." in page.text
    assert await alexa.stored() == NOTHING
    assert alexa.amazon.exchange_count == 0 and alexa.amazon.enablement_calls == []


async def test_a_forged_state_is_refused_before_amazon_is_asked(
    browser: Browser, alexa: AlexaLink
) -> None:
    await browser.login(alexa.base_url, "user", next_path="/account")
    location = await _decide(browser, await _consent_page(browser, alexa), "allow")
    code = parse_qs(urlsplit(location).query)["code"][0]
    page = await browser.get(alexa.callback, params={"code": code, "state": "forged-state"})
    assert page.status == 400
    assert "does not belong to a link started here" in page.text
    # The pending link is gone too: the right state no longer works after a forged one.
    again = await browser.get(location)
    assert again.status == 400 and "does not belong to a link started here" in again.text
    assert await alexa.stored() == NOTHING
    assert alexa.amazon.exchange_count == 0


async def test_an_expired_amazon_code_is_a_readable_page_and_keeps_nothing(
    browser: Browser, alexa: AlexaLink
) -> None:
    await browser.login(alexa.base_url, "user", next_path="/account")
    location = await _decide(browser, await _consent_page(browser, alexa), "allow")
    alexa.amazon.advance_time(301)  # Amazon's code lives 5 minutes
    page = await browser.get(location)
    assert page.status == 400
    assert "no longer valid (it expires after five minutes and works only once)" in page.text
    assert await alexa.stored() == NOTHING
    assert alexa.amazon.enablement_calls == []


async def test_a_replayed_callback_is_refused_and_the_link_stays_single(
    browser: Browser, alexa: AlexaLink
) -> None:
    await browser.login(alexa.base_url, "user", next_path="/account")
    location = await _decide(browser, await _consent_page(browser, alexa), "allow")
    linked = await browser.get(location)
    assert linked.status == 200 and 'id="alexa-linked"' in linked.text
    replay = await browser.get(location)
    assert replay.status == 400 and "does not belong to a link started here" in replay.text
    # Amazon's code replayed under a fresh state: LWA refuses it (single use).
    fresh = await _decide(browser, await _consent_page_any(browser, alexa), "allow")
    state = parse_qs(urlsplit(fresh).query)["state"][0]
    code = parse_qs(urlsplit(location).query)["code"][0]
    reused = await browser.get(alexa.callback, params={"code": code, "state": state})
    assert reused.status == 400 and "works only once" in reused.text
    assert (await alexa.stored())["enablements"] == 1
    assert [c for c in alexa.amazon.enablement_calls if c[0] == "POST"] == [("POST", SKILL_ID, 201)]


async def _consent_page_any(browser: Browser, alexa: AlexaLink) -> Page:
    """As `_consent_page`, from a POST of our own (the page shows Unlink once linked)."""
    account = await browser.get(f"{alexa.base_url}/account")
    form = account.form(**{"class": "alexa-unlink"})
    form.action = "/account/alexa/link"
    return await browser.submit(account, form)


async def test_a_403_from_the_enablement_api_is_a_readable_page_and_keeps_nothing(
    browser: Browser, server: TestServer, amazon: AmazonStandIn, base_url: str
) -> None:
    alexa = await set_up(server.app, amazon, base_url, beta_testers=["amzn1.account.SOMEONE"])
    await browser.login(base_url, "user", next_path="/account")
    page = await browser.get(await _decide(browser, await _consent_page(browser, alexa), "allow"))
    assert page.status == 403
    assert "A skill still in development can only be enabled by its beta testers." in page.text
    assert await alexa.stored() == NOTHING
    assert amazon.enablement_calls == [("POST", SKILL_ID, 403)]


async def test_status_and_unlinks_that_start_at_alexa(browser: Browser, alexa: AlexaLink) -> None:
    """Linked, then disabled in the Alexa app: the account page says so and forgets the
    tokens; linked again, then our tokens revoked ("Remove…"): not linked either."""
    await browser.login(alexa.base_url, "user", next_path="/account")
    await browser.get(await _decide(browser, await _consent_page(browser, alexa), "allow"))
    account = await browser.get(f"{alexa.base_url}/account")
    assert 'data-state="linked"' in account.text and "Enabled and linked" in account.text
    assert ("GET", SKILL_ID, 200) in alexa.amazon.enablement_calls

    alexa.amazon.enablements[(DEFAULT_AMAZON_USER, SKILL_ID)].enabled = False
    account = await browser.get(f"{alexa.base_url}/account")
    assert 'data-state="not_linked"' in account.text
    assert (await alexa.stored())["enablements"] == 0

    await browser.get(await _decide(browser, await _consent_page(browser, alexa), "allow"))
    remove = await browser.get(f"{alexa.base_url}/account/remove?client_id={PARTNER_ID}")
    await browser.submit(remove, remove.form(id="remove-form"))
    account = await browser.get(f"{alexa.base_url}/account")
    assert 'data-state="not_linked"' in account.text
    assert (await alexa.stored())["enablements"] == 0


async def _refused(browser: Browser, url: str, fields: dict[str, str], token: str) -> None:
    """No, an empty and a forged token: each a readable 403 (tests/test_csrf_forms.py)."""
    for value in (None, "", token[:-1] + ("A" if token[-1] != "A" else "B")):
        data = fields if value is None else {**fields, "csrf_token": value}
        page = await browser.request("POST", url, data=data)
        assert page.status == 403 and 'id="error-message"' in page.text, (url, value)


async def test_link_and_unlink_need_the_csrf_token(browser: Browser, alexa: AlexaLink) -> None:
    await browser.login(alexa.base_url, "user", next_path="/account")
    account = await browser.get(f"{alexa.base_url}/account")
    token = account.form(**{"class": "alexa-link"}).fields["csrf_token"]
    fields = {"partner_id": PARTNER_ID}
    await _refused(browser, f"{alexa.base_url}/account/alexa/link", fields, token)
    assert alexa.amazon.lwa_calls == []
    await browser.get(await _decide(browser, await _consent_page(browser, alexa), "allow"))
    await _refused(browser, f"{alexa.base_url}/account/alexa/unlink", fields, token)
    assert alexa.amazon.enablements[(DEFAULT_AMAZON_USER, SKILL_ID)].enabled
    await browser.request(
        "POST", f"{alexa.base_url}/account/alexa/unlink", data={**fields, "csrf_token": token}
    )
    assert not alexa.amazon.enablements[(DEFAULT_AMAZON_USER, SKILL_ID)].enabled


async def test_the_admin_page_registers_our_callback_on_the_skill_client(
    browser: Browser, alexa: AlexaLink
) -> None:
    """It says whether the partner's OAuth client holds our callback, and adds it (CSRF)."""
    settings = client_domain.settings_of(alexa.skill_client)
    settings["redirect_uris"] = tuple(
        u for u in alexa.skill_client.redirect_uris if "127." not in u
    )
    await client_domain.update_client(alexa.db, PARTNER_ID, actor="test", **settings)
    await browser.login(alexa.base_url, "admin")
    page = await browser.get(f"{alexa.base_url}/admin/partners/{PARTNER_ID}")
    assert 'id="callback-missing"' in page.text and alexa.callback in page.text
    url = f"{alexa.base_url}/admin/partners/{PARTNER_ID}/alexa-callback"
    token = page.form(id="callback-form").fields["csrf_token"]
    await _refused(browser, url, {}, token)
    client = await client_domain.get_client(alexa.db, PARTNER_ID)
    assert client is not None and alexa.callback not in client.redirect_uris
    done = await browser.request("POST", url, data={"csrf_token": token})
    assert done.status == 200 and 'id="callback-registered"' in done.text
    client = await client_domain.get_client(alexa.db, PARTNER_ID)
    assert client is not None and alexa.callback in client.redirect_uris
    # The partner form carries the skill's settings, and refuses bad ones readably.
    form = done.form(action="/admin/partners")
    assert (form.fields["skill_id"], form.fields["skill_stage"]) == (SKILL_ID, "development")
    assert form.fields["lwa_authorize_url"] == alexa.amazon.authorize_url
    bad = await browser.submit(done, form, skill_id="skill-1")
    assert bad.status == 400 and "amzn1.ask.skill.&lt;id&gt;" in bad.text
    saved = await browser.submit(done, form, skill_stage="live")
    assert saved.status == 200
    partner = await partners.get(alexa.db, PARTNER_ID)
    assert partner is not None and partner.skill_stage == "live"


async def test_amazon_unreachable_leaves_the_link_and_says_so(
    browser: Browser, alexa: AlexaLink
) -> None:
    """The kept Amazon token is due for a refresh and LWA does not answer: the account page
    still answers, says Amazon could not be asked, and keeps the link."""
    await browser.login(alexa.base_url, "user", next_path="/account")
    await browser.get(await _decide(browser, await _consent_page(browser, alexa), "allow"))
    await alexa.db[skill_enablements.COLLECTION].update_many(
        {}, {"$set": {"expires_at": datetime.now(UTC) - timedelta(minutes=1)}}
    )
    alexa.amazon.set_lwa_down(True)
    account = await browser.get(f"{alexa.base_url}/account")
    assert account.status == 200 and 'data-state="unknown"' in account.text
    assert "Amazon could not be asked right now" in account.text
    assert (await alexa.stored())["enablements"] == 1
    alexa.amazon.set_lwa_down(False)
    account = await browser.get(f"{alexa.base_url}/account")  # refreshed, asked, linked
    assert 'data-state="linked"' in account.text and alexa.amazon.refresh_count == 2
