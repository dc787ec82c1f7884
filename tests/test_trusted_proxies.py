"""ALS_TRUSTED_PROXIES: X-Forwarded-For and X-Forwarded-Proto are believed from the configured
proxies and ignored from everyone else (service/web/proxy.py), as handlers and the access log
see them; and HSTS when the public URL is https. The same through a real Caddy is in
tests/test_tls_proxy.py."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from service.settings import Settings, SettingsError, load_settings
from service.web.logging_setup import AccessLogger
from service.web.proxy import forwarded_client, forwarded_scheme, trusted_proxy_middleware
from service.web.security import HSTS
from tests.support.fixture_types import AiohttpClient, AiohttpServer, AppFactory


def echo_app(trusted_proxies: str) -> web.Application:
    """The middleware in front of a handler that tells what it sees."""
    settings = Settings(env="dev", trusted_proxies=trusted_proxies)

    async def echo(request: web.Request) -> web.Response:
        return web.json_response(
            {"remote": request.remote, "scheme": request.scheme, "secure": request.secure}
        )

    app = web.Application(middlewares=[trusted_proxy_middleware(settings)])
    app.router.add_get("/", echo)
    return app


FORGED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}


@pytest.mark.parametrize(
    "trusted",
    ["", "10.0.0.0/8", "::1"],
    ids=["none configured (the default)", "another network", "another address"],
)
async def test_forwarded_headers_from_others_are_ignored(
    aiohttp_client: AiohttpClient, trusted: str
) -> None:
    client = await aiohttp_client(echo_app(trusted))  # calls from 127.0.0.1
    resp = await client.get("/", headers=FORGED)
    assert await resp.json() == {"remote": "127.0.0.1", "scheme": "http", "secure": False}


@pytest.mark.parametrize("trusted", ["127.0.0.1", "127.0.0.0/8", "10.0.0.0/8, 127.0.0.1/32"])
async def test_forwarded_headers_from_a_trusted_proxy_are_believed(
    aiohttp_client: AiohttpClient, trusted: str
) -> None:
    client = await aiohttp_client(echo_app(trusted))
    resp = await client.get("/", headers=FORGED)
    assert await resp.json() == {"remote": "203.0.113.9", "scheme": "https", "secure": True}
    # Without the headers the proxy itself is the caller, over plain http.
    resp = await client.get("/")
    assert await resp.json() == {"remote": "127.0.0.1", "scheme": "http", "secure": False}


NETWORKS = Settings(
    trusted_proxies="127.0.0.1, 10.0.0.0/8, 2001:db8:ffff::/48"
).trusted_proxy_networks


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        ("127.0.0.1", ["203.0.113.9"], "203.0.113.9"),
        # Read from the right: trusted hops are skipped, the first other address is the
        # client; what it claimed further left is not believed.
        ("127.0.0.1", ["198.51.100.1, 203.0.113.9, 10.1.2.3"], "203.0.113.9"),
        ("127.0.0.1", ["198.51.100.1", "203.0.113.9"], "203.0.113.9"),  # repeated header
        ("127.0.0.1", ["10.1.2.3, 10.4.5.6"], "10.1.2.3"),  # all trusted: the farthest
        ("127.0.0.1", [], "127.0.0.1"),  # no header: the proxy itself
        ("127.0.0.1", ["203.0.113.9, unknown"], "127.0.0.1"),  # garbage ends the walk
        ("127.0.0.1", ["unknown, 203.0.113.9"], "203.0.113.9"),
        ("127.0.0.1", ["[2001:db8::1]:443"], "2001:db8::1"),
        ("127.0.0.1", ["203.0.113.9:51000"], "203.0.113.9"),
        ("::ffff:127.0.0.1", ["203.0.113.9"], "203.0.113.9"),  # IPv4-mapped peer
        ("2001:db8:ffff::5", ["2001:db8::1"], "2001:db8::1"),
        ("198.51.100.1", ["203.0.113.9"], None),  # not a trusted proxy: ignored
        (None, ["203.0.113.9"], None),
    ],
)
def test_the_client_behind_trusted_proxies(
    peer: str | None, forwarded_for: list[str], client: str | None
) -> None:
    assert forwarded_client(peer, forwarded_for, NETWORKS) == client


@pytest.mark.parametrize(
    ("values", "scheme"),
    [
        (["https"], "https"),
        (["HTTP"], "http"),
        (["http, https"], "https"),
        (["ftp"], None),
        ([], None),
    ],
)
def test_the_scheme_a_trusted_proxy_reports(values: list[str], scheme: str | None) -> None:
    assert forwarded_scheme(values) == scheme


def test_trusted_proxies_are_ip_addresses_or_networks() -> None:
    settings = load_settings(
        {"ALS_ENV": "dev", "ALS_TRUSTED_PROXIES": "172.30.86.10, 10.0.0.0/8,fd00::/8"}
    )
    assert [str(n) for n in settings.trusted_proxy_networks] == [
        "172.30.86.10/32",
        "10.0.0.0/8",
        "fd00::/8",
    ]
    assert Settings().trusted_proxy_networks == ()  # none by default
    for wrong in ("caddy", "10.0.0.1/8", "300.1.2.3"):
        with pytest.raises(SettingsError, match="ALS_TRUSTED_PROXIES"):
            load_settings({"ALS_ENV": "dev", "ALS_TRUSTED_PROXIES": wrong})


async def test_the_access_log_names_the_forwarded_client(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, caplog: pytest.LogCaptureFixture
) -> None:
    server = await aiohttp_server(echo_app("127.0.0.1"), access_log_class=AccessLogger)
    client: TestClient[web.Request, None] = await aiohttp_client(server)
    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        await client.get("/", headers={"X-Forwarded-For": "203.0.113.9"})
        await client.get("/")
    records = [r for r in caplog.records if r.name == "aiohttp.access"]
    assert [r.getMessage().split()[0] for r in records] == ["203.0.113.9", "127.0.0.1"]


async def test_hsts_when_the_public_url_is_https(
    make_app: AppFactory, aiohttp_client: AiohttpClient
) -> None:
    https = await aiohttp_client(make_app(public_url="https://link.example.com"))
    for path in ("/healthz", "/no-such-page"):  # error pages too
        resp = await https.get(path)
        assert resp.headers["Strict-Transport-Security"] == HSTS == "max-age=31536000"
    http = await aiohttp_client(make_app())  # http://127.0.0.1:<port> (dev)
    resp = await http.get("/healthz")
    assert "Strict-Transport-Security" not in resp.headers
