"""The pages a person works with (the consent page, /account, the admin pages) carry the
security headers: a Content-Security-Policy that forbids framing, X-Frame-Options, nosniff and
a Referrer-Policy; and Strict-Transport-Security when the public URL is https, never over a
plain-http public URL. (Error answers: tests/test_error_pages.py; HSTS on every hop of a
whole flow behind a real TLS proxy: tests/test_tls_proxy.py.)

The https case is a second app with the same settings (so the same session key and database)
but an https public URL: the session cookie of a real Keycloak login on the first one opens
the same pages on it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from service.web.appkeys import DB
from service.web.session import COOKIE_NAME
from tests.support.browser import Browser
from tests.support.oauth import authorize_url, create_client, open_authorize

PAGES = ("/account", "/admin", "/admin/clients", "/admin/partners", "/admin/links")
ONE_YEAR = 365 * 24 * 3600


def _directives(policy: str) -> dict[str, str]:
    parts = (p.strip().split(None, 1) for p in policy.split(";") if p.strip())
    return {p[0].lower(): (p[1] if len(p) > 1 else "") for p in parts}


def _assert_secure(headers: Any, where: str, *, https: bool) -> None:
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("X-Frame-Options") == "DENY", where
    assert headers.get("Referrer-Policy") in ("no-referrer", "same-origin"), where
    csp = _directives(headers.get("Content-Security-Policy", ""))
    assert csp.get("frame-ancestors") == "'none'", (where, csp)
    assert "default-src" in csp and "*" not in csp["default-src"], (where, csp)
    assert all("'unsafe-eval'" not in value for value in csp.values()), (where, csp)
    hsts = headers.get("Strict-Transport-Security")
    if https:
        assert hsts, where
        max_age = _directives(hsts.replace("=", " "))["max-age"]
        assert int(max_age) >= ONE_YEAR, (where, hsts)
    else:
        assert hsts is None, (where, hsts)


async def _page(
    session: aiohttp.ClientSession, url: str, cookie: str | None = None
) -> tuple[int, Any]:
    headers = {"Cookie": f"{COOKIE_NAME}={cookie}"} if cookie else {}
    async with session.get(url, headers=headers, allow_redirects=False) as resp:
        await resp.read()
        return resp.status, resp.headers


async def test_consent_account_and_admin_pages_carry_security_headers(
    server: TestServer,
    base_url: str,
    browser: Browser,
    make_app: Callable[..., web.Application],
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> None:
    client, _ = await create_client(server.app[DB], name="Headers skill")
    consent = await open_authorize(browser, authorize_url(base_url, client), "admin")
    assert consent.form(id="consent-form")
    consent_path = str(URL(authorize_url(base_url, client)).relative())
    for path in (consent_path, *PAGES):
        status, headers = await _page(browser.session, base_url + path)
        assert status == 200, path
        _assert_secure(headers, path, https=False)

    cookie = browser.session.cookie_jar.filter_cookies(URL(base_url))[COOKIE_NAME].value
    https = await aiohttp_server(make_app(public_url="https://link.example.com"))
    # No jar: only the cookie we send (a jar would keep the https app's Secure cookie to
    # itself, off plain http).
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        for path in (consent_path, *PAGES):
            url = f"http://127.0.0.1:{https.port}{path}"
            status, headers = await _page(session, url, cookie)
            assert status == 200, path
            _assert_secure(headers, f"https {path}", https=True)
