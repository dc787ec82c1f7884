"""Transport (issue 10, item 5): no http redirect URIs outside dev mode, and a
Content-Security-Policy whose `form-action` names only where our forms lead (our origin, and
on the consent page the client's redirect URI, where its answer redirects)."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer

from service.oauth.clients import ClientConfigError
from service.settings import Settings, generate_key
from service.web.appkeys import DB
from service.web.security import csp_origin
from tests.support.browser import Browser
from tests.support.cli import cli
from tests.support.oauth import ALEXA_REDIRECT_URIS, authorize_url, create_client, open_authorize

HTTP_URI = "http://app.example/cb"


async def test_http_redirect_uris_only_in_dev_mode(server: TestServer) -> None:
    db = server.app[DB]
    with pytest.raises(ClientConfigError, match="must be https"):
        await create_client(db, redirect_uris=[ALEXA_REDIRECT_URIS[0], HTTP_URI])
    client, _ = await create_client(db, redirect_uris=[HTTP_URI], allow_http_redirect_uris=True)
    assert client.redirect_uris == (HTTP_URI,)


async def test_the_cli_refuses_http_redirect_uris_in_production(settings: Settings) -> None:
    production = {
        "ALS_ENV": "production",
        "ALS_PUBLIC_URL": "https://link.example.com",
        "ALS_KEYCLOAK_CLIENT_SECRET": "a-production-secret-of-some-length",
        "ALS_SESSION_KEY": generate_key(),
        "ALS_ENCRYPTION_KEYS": "k1:" + generate_key(),
        "ALS_TOKEN_KEYS": "t1:" + generate_key(),
    }
    args = ("clients", "add", "--name", "Skill", "--redirect-uri", HTTP_URI)
    refused = await cli(settings, *args, env=production)
    assert refused.returncode == 2
    assert "must be https (http only with ALS_ENV=dev)" in refused.stderr
    assert (await cli(settings, *args)).returncode == 0  # ALS_ENV=dev


def _form_action(csp: str) -> str:
    [directive] = [d.strip() for d in csp.split(";") if d.strip().startswith("form-action")]
    return directive


async def test_form_action_names_only_our_origin(base_url: str, browser: Browser) -> None:
    await browser.login(base_url, "user")  # the page then has the logout form
    for path in ("/", "/account", "/no-such-page"):
        async with browser.session.get(base_url + path) as resp:
            csp = resp.headers["Content-Security-Policy"]
        assert _form_action(csp) == "form-action 'self'", path
        assert "frame-ancestors 'none'" in csp


async def test_the_consent_page_may_also_post_to_the_redirect_uris_origin(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, _ = await create_client(server.app[DB])
    url = authorize_url(base_url, client, redirect_uri=ALEXA_REDIRECT_URIS[1])
    await open_authorize(browser, url)  # logs in
    async with browser.session.get(url) as resp:
        assert resp.status == 200
        csp = resp.headers["Content-Security-Policy"]
    assert _form_action(csp) == "form-action 'self' https://layla.amazon.com"


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://pitangui.amazon.com/api/skill/link/X?a=1", "https://pitangui.amazon.com"),
        ("http://127.0.0.1:8080/cb", "http://127.0.0.1:8080"),
        ("https://[::1]:8443/cb", "https://[::1]:8443"),
        ("HTTPS://Layla.Amazon.com/x", "https://layla.amazon.com"),
        ("https://user:pw@app.example/cb", "https://app.example"),
        # Nothing but a plain origin may reach the header (no directive smuggled in).
        ("https://a;script-src *@app.example/", "https://app.example"),
        ("https://app.example;script-src/", None),
        ("https://app%20example/", None),
        ("ftp://app.example/", None),
        ("https://[x/", None),
    ],
)
def test_csp_origin(url: str, origin: str | None) -> None:
    assert csp_origin(url) == origin
