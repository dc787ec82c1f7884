"""Linking CSRF (issue 10, item 4): remembered consent skips the consent page only while the
user is still linked (holds an active grant of the client); `prompt=login|consent|none`; and
RFC 9207's `iss` in authorization responses for clients that ask for it."""

from __future__ import annotations

from aiohttp.test_utils import TestServer

from service.models.oauth import OAuthClient
from service.web.appkeys import DB, SETTINGS
from tests.support.browser import Browser
from tests.support.oauth import (
    authorize,
    authorize_url,
    basic_auth,
    create_client,
    exchange_data,
    open_authorize,
    post,
    token_request,
)


async def _link(browser: Browser, base_url: str, client: OAuthClient, secret: str) -> str:
    """Link as Alexa does (consent, then the code exchanged); returns the refresh token."""
    code = (await authorize(browser, base_url, client))["code"]
    answer = await token_request(
        base_url, exchange_data(code, client), client_id=client.client_id, secret=secret
    )
    assert answer.status == 200, answer.body
    refresh: str = answer.body["refresh_token"]
    return refresh


async def test_remembered_consent_without_a_link_asks_again(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    """The attack: the victim allowed the skill once (consent remembered) but is not linked;
    an attacker's authorization URL (the attacker's Alexa session, state and all) opened in the
    victim's browser must not silently hand the attacker a code for the victim's account."""
    client, _ = await create_client(server.app[DB])
    await authorize(browser, base_url, client)  # allowed; the code was never exchanged
    page = await open_authorize(browser, authorize_url(base_url, client, state="attacker"))
    assert page.redirect_to is None, "a code was issued without the consent page"
    assert page.form(id="consent-form")


async def test_remembered_consent_skips_the_page_only_while_linked(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, secret = await create_client(server.app[DB])
    refresh = await _link(browser, base_url, client, secret)
    page = await open_authorize(browser, authorize_url(base_url, client, state="again"))
    assert page.redirect_params["state"] == "again" and page.redirect_params["code"]
    # Alexa disables the skill and revokes its token (RFC 7009): the link is gone, the
    # consent is still remembered, and a new link asks again.
    revoked = await post(
        f"{base_url}/oauth/revoke",
        {"token": refresh, "token_type_hint": "refresh_token"},
        headers={"Authorization": basic_auth(client.client_id, secret)},
    )
    assert revoked.status == 200
    page = await open_authorize(browser, authorize_url(base_url, client, state="relink"))
    assert page.redirect_to is None and page.form(id="consent-form")


async def test_prompt_consent_always_shows_the_consent_page(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, secret = await create_client(server.app[DB])
    await _link(browser, base_url, client, secret)
    page = await open_authorize(browser, authorize_url(base_url, client, prompt="consent"))
    assert page.redirect_to is None and page.form(id="consent-form")
    # The form does not carry `prompt` back: Allow issues the code.
    assert "prompt" not in page.form(id="consent-form").fields
    answer = await browser.submit(page, page.form(id="consent-form"), button="approve")
    assert answer.redirect_params["code"]


async def test_prompt_login_goes_through_keycloaks_login_again(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, secret = await create_client(server.app[DB])
    await _link(browser, base_url, client, secret)  # logged in here and at Keycloak
    page = await browser.get(authorize_url(base_url, client, prompt="login", state="re"))
    assert page.redirect_to is None
    assert 'id="kc-form-login"' in page.text, "Keycloak's session was used without a login"
    page = await browser.keycloak_login(page, "user", "password")
    # Back at the request once, without `login`: still linked, so the code comes at once.
    assert page.redirect_params["state"] == "re" and page.redirect_params["code"]


async def test_prompt_none_answers_without_a_page(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, secret = await create_client(server.app[DB])
    stranger = Browser()
    try:
        page = await stranger.get(authorize_url(base_url, client, prompt="none", state="n1"))
        assert page.redirect_params == {
            "error": "login_required",
            "error_description": "The user is not logged in.",
            "state": "n1",
        }
    finally:
        await stranger.close()
    await browser.login(base_url, "user")
    page = await browser.get(authorize_url(base_url, client, prompt="none", state="n2"))
    assert page.redirect_params["error"] == "consent_required"
    assert page.redirect_params["state"] == "n2"
    await _link(browser, base_url, client, secret)
    page = await browser.get(authorize_url(base_url, client, prompt="none", state="n3"))
    assert page.redirect_params["code"] and page.redirect_params["state"] == "n3"


async def test_unknown_or_combined_prompt_values_are_invalid_request(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, _ = await create_client(server.app[DB])
    for prompt in ("select_account", "none login"):
        page = await browser.get(authorize_url(base_url, client, prompt=prompt, state="p"))
        assert page.redirect_params["error"] == "invalid_request"
        assert page.redirect_params["state"] == "p"


async def test_iss_in_authorization_responses_for_clients_that_ask(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    issuer = server.app[SETTINGS].public_base
    client, _ = await create_client(server.app[DB], authorization_response_iss=True)
    allowed = await authorize(browser, base_url, client, state="s1")
    assert allowed["iss"] == issuer and allowed["code"] and allowed["state"] == "s1"
    denied = await authorize(browser, base_url, client, approve=False, state="s2")
    assert denied["iss"] == issuer and denied["error"] == "access_denied"
    page = await browser.get(authorize_url(base_url, client, scope="admin"))
    assert page.redirect_params["error"] == "invalid_scope"
    assert page.redirect_params["iss"] == issuer
    # Other clients' answers are as before.
    other, _ = await create_client(server.app[DB])
    assert set(await authorize(browser, base_url, other)) == {"code", "state"}
    async with browser.session.get(f"{base_url}/.well-known/oauth-authorization-server") as r:
        assert (await r.json())["authorization_response_iss_parameter_supported"] is True
