"""Login through the real Keycloak, the callback's checks, and logout of both sessions."""

from __future__ import annotations

import base64
import json
import re
import time
from urllib.parse import parse_qs, quote, urljoin, urlsplit

import pytest
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey
from yarl import URL

from service.keycloak_oidc import OidcError
from service.web.appkeys import OIDC
from service.web.session import safe_next
from tests.support.browser import Browser
from tests.support.fixture_types import AiohttpClient, AppFactory


async def test_user_logs_in_and_sees_their_name(base_url: str, browser: Browser) -> None:
    page = await browser.login(base_url, "user")
    assert page.status == 200
    assert page.url.startswith(base_url)
    assert re.search(r'id="username">user<', page.text)
    assert "(administrator)" not in page.text


async def test_admin_session_has_admin_role(base_url: str, browser: Browser) -> None:
    page = await browser.login(base_url, "admin")
    assert re.search(r'id="username">admin<', page.text)
    assert "(administrator)" in page.text


async def test_login_returns_to_requested_page(base_url: str, browser: Browser) -> None:
    page = await browser.login(base_url, "user", next_path="/healthz")
    assert page.url == f"{base_url}/healthz"


async def test_login_refuses_offsite_next(base_url: str, browser: Browser) -> None:
    page = await browser.login(base_url, "user", next_path="//evil.example/x")
    assert page.url == f"{base_url}/"


@pytest.mark.parametrize(
    "next_path",
    ["/%09/evil.example/x", "/%0a/evil.example/x", "/%0d%0a/evil.example", "/%5C%5Cevil.example"],
)
async def test_login_refuses_next_that_a_browser_reads_as_offsite(
    base_url: str, browser: Browser, next_path: str
) -> None:
    # A tab or newline is dropped from a URL (by yarl too, building Location), so
    # "/<tab>/evil.example" would send the person to //evil.example after logging in.
    page = await browser.get(f"{base_url}/login?next={next_path}")
    form = page.form(id="kc-form-login")
    data = {**form.fields, "username": "user", "password": "password"}
    async with browser.session.post(form.action, data=data, allow_redirects=False) as resp:
        callback = resp.headers["Location"]
    async with browser.session.get(callback, allow_redirects=False) as resp:
        assert resp.status == 302
        assert resp.headers["Location"] == "/"


def test_safe_next_keeps_ordinary_paths_and_drops_control_characters() -> None:
    assert safe_next("/oauth/authorize?state=a%09b&x=1") == "/oauth/authorize?state=a%09b&x=1"
    for bad in ("/\t/evil.example", "/\n/evil.example", "/\\evil.example", "/x\x7f"):
        assert safe_next(bad) == "/", repr(bad)


async def test_wrong_password_stays_on_keycloak_with_error(base_url: str, browser: Browser) -> None:
    page = await browser.login(base_url, "user", password="wrong")
    assert page.status == 200
    assert "/realms/alexa-linking/" in page.url
    assert "Invalid username or password" in page.text
    assert page.form(id="kc-form-login")


async def _keycloak_callback(browser: Browser, base_url: str) -> str:
    """Log in at Keycloak but stop before our callback; return the callback URL."""
    page = await browser.get(f"{base_url}/login")
    form = page.form(id="kc-form-login")

    async with browser.session.post(
        urljoin(page.url, form.action),
        data={**form.fields, "username": "user", "password": "password"},
        allow_redirects=False,
    ) as resp:
        assert resp.status == 302
        location: str = resp.headers["Location"]
    assert location.startswith(f"{base_url}/login/callback")
    return location


async def test_callback_with_wrong_state_is_refused(base_url: str, browser: Browser) -> None:
    callback = await _keycloak_callback(browser, base_url)
    tampered = re.sub(r"state=[^&]+", "state=forged", callback)
    page = await browser.get(tampered)
    assert page.status == 400
    assert "no longer valid" in page.text
    assert 'id="username"' not in (await browser.get(base_url + "/")).text


async def test_callback_without_state_is_refused(base_url: str, browser: Browser) -> None:
    callback = await _keycloak_callback(browser, base_url)
    url = URL(callback)
    page = await browser.get(
        str(url.with_query({k: v for k, v in url.query.items() if k != "state"}))
    )
    assert page.status == 400


async def test_replayed_callback_is_refused(base_url: str, browser: Browser) -> None:
    callback = await _keycloak_callback(browser, base_url)
    first = await browser.get(callback)
    assert first.status == 200 and 'id="username">user<' in first.text
    again = await browser.get(callback)
    assert again.status == 400
    assert "no longer valid" in again.text


async def test_reused_code_in_a_new_login_is_refused(
    base_url: str, browser: Browser, browser_factory: object
) -> None:
    callback = await _keycloak_callback(browser, base_url)
    assert (await browser.get(callback)).status == 200
    # Another browser starts its own login (its own state), then presents the used code.
    other = Browser()
    try:
        page = await other.get(f"{base_url}/login")
        state = re.search(r"state=([^&]+)", page.url)
        assert state
        code = re.search(r"code=([^&]+)", callback)
        assert code
        result = await other.get(
            f"{base_url}/login/callback?state={state.group(1)}&code={code.group(1)}"
        )
        assert result.status == 400
        assert "code was refused" in result.text
    finally:
        await other.close()


async def test_forged_id_token_is_refused(server: TestServer) -> None:
    oidc = server.app[OIDC]
    discovery = await oidc.discovery()
    key = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    now = int(time.time())
    claims = {
        "iss": discovery["issuer"],
        "aud": "account-linking-service",
        "sub": "x",
        "exp": now + 300,
        "iat": now,
        "nonce": "n",
        "preferred_username": "admin",
        "realm_access": {"roles": ["admin"]},
    }
    forged = jwt.encode({"alg": "RS256", "kid": "forged"}, claims, key)
    try:
        await oidc.verify_id_token(forged, nonce="n")
    except OidcError as exc:
        assert "could not be verified" in exc.description
    else:
        raise AssertionError("a token signed by another key was accepted")
    # An unsigned token with the same claims ("alg": "none") is refused too.
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    try:
        await oidc.verify_id_token(f"{header}.{body}.", nonce="n")
    except OidcError:
        pass
    else:
        raise AssertionError("an unsigned token was accepted")


async def test_logout_ends_both_sessions(base_url: str, browser: Browser) -> None:
    home = await browser.login(base_url, "user")
    csrf = home.form(action="/logout").fields["csrf_token"]
    page = await browser.request("POST", f"{base_url}/logout", data={"csrf_token": csrf})
    assert page.url == f"{base_url}/"
    assert 'id="username"' not in page.text
    again = await browser.get(f"{base_url}/login")
    assert "/realms/alexa-linking/" in again.url
    assert again.form(id="kc-form-login"), "Keycloak should ask for the password again"


async def test_logout_requires_csrf_token(base_url: str, browser: Browser) -> None:
    await browser.login(base_url, "user")
    page = await browser.request("POST", f"{base_url}/logout", data={"csrf_token": "nope"})
    assert page.status == 403
    assert 'id="username">user<' in (await browser.get(base_url + "/")).text


async def test_without_keycloak_login_shows_readable_error(
    make_app: AppFactory, aiohttp_client: AiohttpClient
) -> None:
    client = await aiohttp_client(make_app(keycloak_url="http://127.0.0.1:9"))
    resp = await client.get("/login", allow_redirects=False)
    assert resp.status == 503
    assert "not reachable" in await resp.text()


async def test_copied_session_cookie_is_refused_after_logout(
    base_url: str, browser: Browser
) -> None:
    home = await browser.login(base_url, "user")
    cookie = browser.session.cookie_jar.filter_cookies(URL(base_url))["als_session"].value
    csrf = home.form(action="/logout").fields["csrf_token"]
    await browser.request("POST", f"{base_url}/logout", data={"csrf_token": csrf})
    thief = Browser()
    try:
        page = await thief.get(f"{base_url}/", headers={"Cookie": f"als_session={cookie}"})
        assert 'id="username"' not in page.text
        page = await thief.get(f"{base_url}/account", headers={"Cookie": f"als_session={cookie}"})
        assert "kc-form-login" in page.text
    finally:
        await thief.close()


async def test_keycloak_is_asked_with_every_parameter_encoded(
    base_url: str, browser: Browser
) -> None:
    async with browser.session.get(f"{base_url}/login", allow_redirects=False) as resp:
        location = resp.headers["Location"]
    assert f"redirect_uri={quote(base_url, safe='')}%2Flogin%2Fcallback&" in location, location
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["response_type"] == "code" and query["state"] and query["nonce"]


async def test_two_tabs_logging_in_at_once_both_finish(base_url: str, browser: Browser) -> None:
    locations = []
    for next_path in ("/healthz", "/"):
        async with browser.session.get(
            f"{base_url}/login?next={next_path}", allow_redirects=False
        ) as resp:
            locations.append(resp.headers["Location"])
    first = await browser.keycloak_login(await browser.get(locations[0]), "user", "password")
    assert first.url == f"{base_url}/healthz"
    # The second tab's login page is still open; Keycloak now knows the user and sends it back.
    second = await browser.get(locations[1])
    assert second.url == f"{base_url}/"
    assert re.search(r'id="username">user<', second.text)
