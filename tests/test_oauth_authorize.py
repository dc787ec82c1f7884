"""GET/POST /oauth/authorize: validation order (RFC 6749 §4.1.2.1), login, consent, state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, urlencode, urlsplit

from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from service.storage import grants
from service.web.appkeys import DB
from tests.support.browser import Browser
from tests.support.oauth import (
    ALEXA_REDIRECT_URIS,
    authorize,
    authorize_url,
    create_client,
    exchange_data,
    open_authorize,
    token_request,
)

CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"  # RFC 7636 Appendix B


async def test_unregistered_redirect_uri_gets_error_page_not_redirect(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, _ = await create_client(server.app[DB])
    for uri in (
        "https://evil.example/cb",
        ALEXA_REDIRECT_URIS[0] + "/",
        ALEXA_REDIRECT_URIS[0] + "?x=1",
        ALEXA_REDIRECT_URIS[0].replace("https", "http"),
    ):
        page = await browser.get(authorize_url(base_url, client, redirect_uri=uri))
        assert page.redirect_to is None
        assert page.status == 400
        assert "has not registered" in page.text


async def test_unknown_client_gets_error_page(base_url: str, browser: Browser) -> None:
    query = urlencode(
        {
            "response_type": "code",
            "client_id": "nobody",
            "state": "s",
            "redirect_uri": ALEXA_REDIRECT_URIS[0],
        }
    )
    page = await browser.get(f"{base_url}/oauth/authorize?{query}")
    assert page.redirect_to is None and page.status == 400
    assert "not known" in page.text


async def test_missing_client_id_gets_error_page(base_url: str, browser: Browser) -> None:
    page = await browser.get(f"{base_url}/oauth/authorize?response_type=code&state=s")
    assert page.redirect_to is None and page.status == 400


async def test_missing_redirect_uri_with_several_registered_gets_error_page(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, _ = await create_client(server.app[DB])
    page = await browser.get(authorize_url(base_url, client, redirect_uri=None))
    assert page.redirect_to is None and page.status == 400


async def test_parameter_errors_redirect_with_unchanged_state(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, _ = await create_client(server.app[DB])
    state = "a b/c+d=&é"
    cases: list[tuple[dict[str, str | None], str]] = [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": None}, "invalid_request"),
        ({"scope": "profile admin"}, "invalid_scope"),
        ({"code_challenge": CHALLENGE, "code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": CHALLENGE}, "invalid_request"),  # method defaults to plain
        ({"code_challenge": "short", "code_challenge_method": "S256"}, "invalid_request"),
    ]
    for params, error in cases:
        page = await browser.get(authorize_url(base_url, client, state=state, **params))
        assert page.redirect_to is not None, params
        assert page.redirect_to.startswith(ALEXA_REDIRECT_URIS[0] + "?")
        assert page.redirect_params == {
            **page.redirect_params,
            "error": error,
            "state": state,
        }, params
        # Sent as encoded, not re-quoted on the way out (which would turn %2F back into /).
        assert "state=a%20b%2Fc%2Bd%3D%26%C3%A9" in page.redirect_to, page.redirect_to


async def test_client_requiring_pkce_refuses_request_without_it(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, _ = await create_client(server.app[DB], require_pkce=True)
    page = await browser.get(authorize_url(base_url, client))
    assert page.redirect_params["error"] == "invalid_request"
    assert "PKCE" in page.redirect_params["error_description"]


async def test_client_without_code_grant_is_unauthorized_client(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, _ = await create_client(
        server.app[DB], grant_types=["client_credentials"], redirect_uris=ALEXA_REDIRECT_URIS
    )
    page = await browser.get(authorize_url(base_url, client))
    assert page.redirect_params["error"] == "unauthorized_client"


async def test_not_logged_in_goes_to_keycloak_and_back_to_the_request(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, _ = await create_client(server.app[DB], name="Baby Activity")
    url = authorize_url(base_url, client, scope="profile alexa::health:profile:write")
    first = await browser.get(url)
    assert "/realms/alexa-linking/" in first.url and first.form(id="kc-form-login")
    consent = await browser.keycloak_login(first, "user", "password")
    # Back at the very same authorize request.
    assert consent.url.split("?")[0] == url.split("?")[0]
    assert parse_qs(urlsplit(consent.url).query) == parse_qs(urlsplit(url).query)
    assert consent.status == 200
    assert 'id="client-name">Baby Activity<' in consent.text
    assert 'data-scope="profile"' in consent.text
    assert 'data-scope="alexa::health:profile:write"' in consent.text
    assert 'name="viewport"' in consent.text and "<script" not in consent.text
    form = consent.form(id="consent-form")
    assert form.fields["csrf_token"]
    assert [name for name, _ in form.buttons] == ["approve", "deny"]


async def test_approve_redirects_with_code_and_unchanged_state(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, _ = await create_client(server.app[DB])
    state = "Alexa/state+with=odd&chars ü"
    params = await authorize(browser, base_url, client, state=state)
    assert set(params) == {"code", "state"}
    assert params["state"] == state
    assert len(params["code"]) >= 43


async def test_a_long_state_survives_the_login_round_trip(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    # The pending login is kept server-side: a cookie carrying this return URL would pass the
    # 4 KB browsers keep and the login would fail.
    client, _ = await create_client(server.app[DB])
    state = "AlexaState-_0123456789" * 160  # 3,520 characters
    params = await authorize(browser, base_url, client, state=state)
    assert set(params) == {"code", "state"}
    assert params["state"] == state
    assert all(len(c.value) < 4096 for c in browser.session.cookie_jar)


async def test_deny_redirects_with_access_denied(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    db = server.app[DB]
    client, _ = await create_client(db)
    params = await authorize(browser, base_url, client, approve=False, state="st-1")
    assert params["error"] == "access_denied" and params["state"] == "st-1"
    assert "code" not in params
    assert await grants.list_all(db) == []  # a denial remembers nothing


async def test_consent_is_remembered_for_the_same_scopes(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, secret = await create_client(server.app[DB])
    code = (await authorize(browser, base_url, client, scope="profile"))["code"]
    # Remembered consent counts while the user is linked: the code was exchanged
    # (tests/test_oauth_linking_csrf.py).
    exchanged = await token_request(
        base_url, exchange_data(code, client), client_id=client.client_id, secret=secret
    )
    assert exchanged.status == 200
    page = await open_authorize(
        browser, authorize_url(base_url, client, scope="profile", state="second")
    )
    assert page.redirect_to is not None, "the consent page was shown again"
    assert page.redirect_params["state"] == "second" and page.redirect_params["code"]
    # A new scope asks again.
    page = await open_authorize(
        browser, authorize_url(base_url, client, scope="profile alexa::health:profile:write")
    )
    assert page.redirect_to is None and page.form(id="consent-form")


async def test_consent_is_per_user(
    server: TestServer, base_url: str, browser: Browser, browser_factory: object
) -> None:
    client, _ = await create_client(server.app[DB])
    await authorize(browser, base_url, client)
    other = Browser()
    try:
        page = await open_authorize(other, authorize_url(base_url, client), "user2")
        assert page.redirect_to is None and page.form(id="consent-form")
    finally:
        await other.close()


async def test_consent_post_requires_csrf_token(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, _ = await create_client(server.app[DB])
    page = await open_authorize(browser, authorize_url(base_url, client))
    form = page.form(id="consent-form")
    answer = await browser.submit(page, form, button="approve", csrf_token="forged")
    assert answer.status == 403 and answer.redirect_to is None


async def test_consent_post_revalidates_the_request(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, _ = await create_client(server.app[DB])
    page = await open_authorize(browser, authorize_url(base_url, client))
    form = page.form(id="consent-form")
    answer = await browser.submit(
        page, form, button="approve", redirect_uri="https://evil.example/cb"
    )
    assert answer.status == 400 and answer.redirect_to is None
    answer = await browser.submit(page, form, button="approve", scope="profile admin")
    assert answer.redirect_params["error"] == "invalid_scope"


async def test_omitted_scope_means_the_clients_scopes(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, _ = await create_client(server.app[DB])
    page = await open_authorize(browser, authorize_url(base_url, client, scope=None))
    assert 'data-scope="alexa::health:profile:write"' in page.text
    assert 'data-scope="profile"' in page.text


async def test_repeated_parameter_is_invalid_request(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, _ = await create_client(server.app[DB])
    page = await browser.get(authorize_url(base_url, client) + "&scope=profile")
    assert page.redirect_params["error"] == "invalid_request"
    page = await browser.get(authorize_url(base_url, client) + "&client_id=" + client.client_id)
    assert page.redirect_to is None and page.status == 400


async def test_registered_query_is_kept_as_is_when_code_and_state_are_added(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    # RFC 6749 §3.1.2: the redirect URI's own query "MUST be retained". Re-encoding it would
    # turn `%20` into `+` and `flag` into `flag=`, which the client may read differently.
    registered = "https://app.example/cb?x=1&y=a%20b&flag"
    client, _ = await create_client(server.app[DB], redirect_uris=[registered])
    state = "a b+c&d=/?#é"
    page = await open_authorize(
        browser, authorize_url(base_url, client, redirect_uri=registered, state=state)
    )
    page = await browser.submit(page, page.form(id="consent-form"), button="approve")
    assert page.redirect_to is not None
    assert page.redirect_to.startswith(registered + "&code=")
    assert page.redirect_params["state"] == state
    assert "+" not in page.redirect_to.partition("&state=")[2]  # %20: no decoder misreads it

    denied = await authorize(
        browser,
        base_url,
        client,
        approve=False,
        redirect_uri=registered,
        scope="bogus-scope",
        state=state,
    )
    assert denied == {
        "x": "1",
        "y": "a b",
        "error": "invalid_scope",
        "state": state,
        "error_description": denied["error_description"],
    }
    error_page = await browser.get(
        authorize_url(base_url, client, redirect_uri=registered, response_type="token")
    )
    assert error_page.redirect_to is not None
    assert error_page.redirect_to.startswith(registered + "&error=unsupported_response_type")


async def test_an_http_redirect_uri_kept_from_dev_mode_gets_no_code_in_production(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    make_app: Callable[..., web.Application],
) -> None:
    """A client registered while the server ran in dev mode may hold an http redirect URI;
    once in production the server does not send a code there (RFC 6749 §10.5): an error
    page, no redirect."""
    app = make_app(env="production", public_url="https://link.example.test")
    server = await aiohttp_server(app)
    client, _ = await create_client(
        app[DB], redirect_uris=["http://app.example.test/cb"], allow_http_redirect_uris=True
    )
    base_url = str(server.make_url("")).rstrip("/")
    async with ClientSession() as session:
        url = authorize_url(base_url, client)
        async with session.get(url, allow_redirects=False) as page:
            assert page.status == 400
            assert "unencrypted (http) address" in await page.text()
