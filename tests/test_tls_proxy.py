"""Production behind TLS, on this machine: Caddy running deploy/Caddyfile (its internal CA
instead of ACME) in front of `python -m service serve --workers 2` in production mode, logging
customers in through the production realm template imported into the test Keycloak.

Alexa's whole linking flow goes through https: authorize → Keycloak login → consent → code,
token, refresh, the reciprocal call. Every redirect and URL of ours is https, the session
cookie is `Secure`, answers carry HSTS, and the service sees and logs the caller's address:
X-Forwarded-For/-Proto are believed from the proxy (ALS_TRUSTED_PROXIES) and from nobody else.
Callers use other loopback addresses (127.0.0.2, 127.0.0.3) so they differ from Caddy's."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pymongo import AsyncMongoClient, MongoClient

from service.crypto import KeyRing
from service.models.oauth import OAuthClient
from service.settings import generate_key
from tests.amazon_standin import AmazonStandIn
from tests.support.compose import env_example, interpolate, load_compose
from tests.support.keycloak_admin import ImportedRealm, KeycloakAdmin, production_realm
from tests.support.linking import (
    LWA_CLIENT_ID,
    LWA_SECRET,
    PARTNER_ID,
    RECIPROCAL_GRANT,
    add_standin_partner,
)
from tests.support.oauth import authorize_url, basic_auth, create_client, decide
from tests.support.stack import free_port, load_stack_env
from tests.support.tls import (
    ADMIN_HOST,
    CADDYFILE,
    LOGIN_HOST,
    CaddyProxy,
    ServiceProcess,
    TlsBrowser,
    caddy_binary,
    client_session,
    new_home,
)

PROXY = "127.0.0.1"  # Caddy reaches the service from here: ALS_TRUSTED_PROXIES
CALLER = "127.0.0.2"  # a customer, through Caddy
STRANGER = "127.0.0.3"  # someone calling the service's port directly
HSTS = "max-age=31536000"


@dataclass(frozen=True)
class TlsStack:
    base_url: str  # https://localhost:<port>, through Caddy
    service_url: str  # http://127.0.0.1:<port>, the service's own port
    http_url: str  # Caddy's plain-http port (redirects to https)
    https_port: int
    ca_file: Path
    realm: ImportedRealm
    username: str
    password: str
    mongodb_uri: str
    db_name: str
    encryption_keys: str
    service: ServiceProcess


@pytest.fixture(scope="module")
def tls() -> Iterator[TlsStack]:
    stack = load_stack_env()
    https_port, http_port, service_port = free_port(), free_port(), free_port()
    base_url = f"https://localhost:{https_port}"
    home = new_home()
    admin = KeycloakAdmin()
    username, password = f"tls-{secrets.token_hex(4)}", "Pw-" + secrets.token_hex(8)
    db_name = f"als_test_tls_{uuid.uuid4().hex[:10]}"
    encryption_keys = "k1:" + generate_key()
    try:
        with production_realm(admin, base_url) as realm:
            admin.create_user(realm.name, username, password)
            service = ServiceProcess(
                {
                    "ALS_ENV": "production",
                    "ALS_PUBLIC_URL": base_url,
                    "ALS_HOST": "127.0.0.1",
                    "ALS_PORT": str(service_port),
                    "ALS_TRUSTED_PROXIES": f"{PROXY}/32",
                    "ALS_KEYCLOAK_URL": stack["ALS_KEYCLOAK_URL"],
                    "ALS_KEYCLOAK_REALM": realm.name,
                    "ALS_KEYCLOAK_CLIENT_ID": realm.client_id,
                    "ALS_KEYCLOAK_CLIENT_SECRET": realm.client_secret,
                    "ALS_MONGODB_URI": stack["ALS_MONGODB_URI"],
                    "ALS_MONGODB_DB": db_name,
                    "ALS_SESSION_KEY": generate_key(),
                    "ALS_ENCRYPTION_KEYS": encryption_keys,
                    "ALS_TOKEN_KEYS": "t1:" + generate_key(),
                    "ALS_LOG_LEVEL": "INFO",
                    "ALS_METRICS_PORT": "0",
                    "ALS_ALLOW_CUSTOM_AMAZON_URLS": "true",  # the partner is the stand-in
                },
                port=service_port,
                log=home / "service.log",
            )
            caddy = CaddyProxy(
                {
                    "ALS_PUBLIC_URL": base_url,
                    "KC_HOSTNAME": f"https://{LOGIN_HOST}:{https_port}",
                    "KC_HOSTNAME_ADMIN": f"https://{ADMIN_HOST}:{https_port}",
                    "KC_ADMIN_ALLOWED_IPS": f"{PROXY}/32",
                    "ALS_UPSTREAM": f"127.0.0.1:{service_port}",
                    "KC_UPSTREAM": urlsplit(stack["ALS_KEYCLOAK_URL"]).netloc,
                },
                home=home,
                https_port=https_port,
                http_port=http_port,
            )
            try:
                service.start()
                caddy.start()
                yield TlsStack(
                    base_url=base_url,
                    service_url=f"http://127.0.0.1:{service_port}",
                    http_url=f"http://localhost:{http_port}",
                    https_port=https_port,
                    ca_file=caddy.ca_file,
                    realm=realm,
                    username=username,
                    password=password,
                    mongodb_uri=stack["ALS_MONGODB_URI"],
                    db_name=db_name,
                    encryption_keys=encryption_keys,
                    service=service,
                )
            finally:
                caddy.stop()
                service.stop()
    finally:
        admin.close()
        mongo: MongoClient[dict[str, Any]] = MongoClient(stack["ALS_MONGODB_URI"])
        mongo.drop_database(db_name)
        mongo.close()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
async def amazon() -> AsyncIterator[AmazonStandIn]:
    standin = AmazonStandIn(clients={LWA_CLIENT_ID: LWA_SECRET})
    await standin.start()
    yield standin
    await standin.stop()


async def _json(
    tls: TlsStack, method: str, path: str, **kwargs: Any
) -> tuple[int, dict[str, Any], Any]:
    """One call as Alexa or a backend makes it: https through Caddy, no cookies."""
    async with (
        client_session(tls.ca_file, source=CALLER) as session,
        session.request(method, tls.base_url + path, allow_redirects=False, **kwargs) as resp,
    ):
        return resp.status, dict(resp.headers), await resp.json(content_type=None)


async def test_alexa_links_an_account_through_tls(tls: TlsStack, amazon: AmazonStandIn) -> None:
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(tls.mongodb_uri)
    db = mongo[tls.db_name]
    try:
        await add_standin_partner(db, KeyRing.parse(tls.encryption_keys), amazon)
        alexa, alexa_secret = await create_client(db, client_id=PARTNER_ID, name="Baby Activity")
        code = await _customer_allows(tls, alexa)
        await _alexa_links(tls, alexa, alexa_secret, code, amazon)
        [link] = await db["partner_tokens"].find({}).to_list(None)  # the customer's LWA tokens
        assert link["username"] == tls.username
    finally:
        await mongo.close()


async def _customer_allows(tls: TlsStack, alexa: OAuthClient) -> str:
    """The customer, in a browser: authorize → Keycloak's login page → consent → back to
    Alexa with our code."""
    browser = TlsBrowser(tls.ca_file)
    try:
        page = await browser.get(
            authorize_url(tls.base_url, alexa, scope="profile alexa::health:profile:write")
        )
        page = await browser.keycloak_login(page, tls.username, tls.password)
        page = await decide(browser, page)
        assert page.redirect_params["state"] == "alexa-state-123"
        _check_browser_hops(tls, browser)
        return page.redirect_params["code"]
    finally:
        await browser.close()


async def _alexa_links(
    tls: TlsStack, alexa: OAuthClient, secret: str, code: str, amazon: AmazonStandIn
) -> None:
    """Alexa exchanges the code, refreshes, and makes the reciprocal call: all over https."""
    auth = {"Authorization": basic_auth(alexa.client_id, secret)}
    status, headers, tokens = await _json(
        tls,
        "POST",
        "/oauth/token",
        headers=auth,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": alexa.redirect_uris[0],
        },
    )
    assert status == 200, tokens
    assert headers["Strict-Transport-Security"] == HSTS
    status, _, refreshed = await _json(
        tls,
        "POST",
        "/oauth/token",
        headers=auth,
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert status == 200, refreshed
    bearer = {"Authorization": f"Bearer {refreshed['access_token']}"}
    status, _, me = await _json(tls, "GET", "/api/me", headers=bearer)
    assert (status, me["username"]) == (200, tls.username)
    status, _, linked = await _json(
        tls,
        "POST",
        "/api/reciprocal/authorize",
        headers=bearer,
        data={
            "grant_type": RECIPROCAL_GRANT,
            "client_id": PARTNER_ID,
            "code": amazon.issue_code(LWA_CLIENT_ID),
        },
    )
    assert (status, linked) == (200, {"status": "linked"})

    # The metadata Alexa and backends read names https URLs only.
    status, headers, metadata = await _json(tls, "GET", "/.well-known/oauth-authorization-server")
    assert status == 200 and headers["Strict-Transport-Security"] == HSTS
    assert metadata["issuer"] == tls.base_url
    urls = [v for k, v in metadata.items() if k.endswith("_endpoint")]
    assert urls and all(url.startswith(tls.base_url + "/") for url in urls), metadata


def _check_browser_hops(tls: TlsStack, browser: TlsBrowser) -> None:
    ours = [hop for hop in browser.hops if urlsplit(hop.url).hostname == "localhost"]
    assert len(ours) >= 4  # authorize, login, callback, consent …
    for hop in ours:
        # Every page of ours was fetched over https, and says so for a year (HSTS) …
        assert hop.url.startswith(tls.base_url + "/"), hop.url
        assert hop.headers.get("Strict-Transport-Security") == HSTS, hop.url
        # … every redirect of ours stays on https (or leaves for Keycloak or Alexa) …
        location = hop.location
        if location and urlsplit(location).hostname == "localhost":
            assert location.startswith(tls.base_url + "/"), location
    # … Keycloak is asked to send the customer back to our https callback, with PKCE S256 …
    [to_keycloak] = [
        hop.location
        for hop in ours
        if hop.location and f"/realms/{tls.realm.name}/" in hop.location
    ]
    query = parse_qs(urlsplit(to_keycloak).query)
    assert query["redirect_uri"] == [f"{tls.base_url}/login/callback"]
    assert query["code_challenge_method"] == ["S256"]
    # … and the session cookie is Secure (and HttpOnly): browsers send it over https only.
    cookies = [c for hop in ours for c in hop.headers.getall("Set-Cookie", [])]
    session = [c for c in cookies if c.startswith("als_session=") and "Max-Age=0" not in c]
    assert session, cookies
    for cookie in session:
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
        assert {"secure", "httponly"} <= attributes, cookie


async def test_plain_http_is_redirected_to_https(tls: TlsStack) -> None:
    async with (
        client_session(tls.ca_file, source=CALLER) as session,
        session.get(tls.http_url + "/oauth/authorize?client_id=x", allow_redirects=False) as resp,
    ):
        assert resp.status in (301, 308)
        # Caddy leaves out the port when it is the configured https_port (in production 443;
        # here a port of the test's own), so compare all but the port.
        location = urlsplit(resp.headers["Location"])
        assert (location.scheme, location.hostname) == ("https", "localhost")
        assert (location.path, location.query) == ("/oauth/authorize", "client_id=x")


async def test_the_caller_address_comes_from_the_trusted_proxy_only(tls: TlsStack) -> None:
    probe = f"/tls-probe/{uuid.uuid4().hex}"
    forged = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    # Through Caddy: Caddy puts the caller's address in X-Forwarded-For (dropping what the
    # caller claimed), and the service believes Caddy.
    async with (
        client_session(tls.ca_file, source=CALLER) as session,
        session.get(f"{tls.base_url}{probe}/proxied", headers=forged) as resp,
    ):
        assert resp.status == 404
    # Straight to the service's port, from an address that is no trusted proxy: the same
    # headers are ignored.
    async with (
        client_session(tls.ca_file, source=STRANGER) as session,
        session.get(f"{tls.service_url}{probe}/direct", headers=forged) as resp,
    ):
        assert resp.status == 404
    # From the trusted proxy's address, a chain is read from the right: the first address that
    # is not a trusted proxy is the client.
    chain = {"X-Forwarded-For": "203.0.113.9, 198.51.100.7, 127.0.0.1"}
    async with (
        client_session(tls.ca_file, source=PROXY) as session,
        session.get(f"{tls.service_url}{probe}/chain", headers=chain) as resp,
    ):
        assert resp.status == 404

    logged = await _access_log_clients(tls.service, probe, count=3)
    assert logged == {
        f"{probe}/proxied": CALLER,
        f"{probe}/direct": STRANGER,
        f"{probe}/chain": "198.51.100.7",
    }


async def _access_log_clients(service: ServiceProcess, probe: str, count: int) -> dict[str, str]:
    """The client address the access log wrote for each path starting with `probe`."""
    pattern = re.compile(r'(\S+) "GET (' + re.escape(probe) + r'\S*)"')
    found: dict[str, str] = {}
    for _ in range(50):  # the workers write their log lines as they finish the requests
        found = {m[2]: m[1] for line in service.log_lines(probe) if (m := pattern.search(line))}
        if len(found) >= count:
            break
        await asyncio.sleep(0.1)
    return found


async def test_keycloak_hosts_answer_login_pages_and_guard_the_admin_console(
    tls: TlsStack,
) -> None:
    login = f"https://{LOGIN_HOST}:{tls.https_port}"
    admin = f"https://{ADMIN_HOST}:{tls.https_port}"
    realm = f"/realms/{tls.realm.name}/.well-known/openid-configuration"
    expected = {
        (login, realm, CALLER): 200,  # our realm's login pages: public
        (login, "/resources/", CALLER): 404,  # (Keycloak's own 404: the path is passed on)
        (login, "/admin/master/console/", CALLER): 404,  # never the admin console …
        (login, "/realms/master/.well-known/openid-configuration", CALLER): 404,  # … nor master
        (login, "/", CALLER): 404,
        (admin, "/admin/master/console/", PROXY): 200,  # the admin host: allowed addresses …
        (admin, "/admin/master/console/", CALLER): 403,  # … only
    }
    answers = {}
    for base, path, source in expected:
        async with (
            client_session(tls.ca_file, source=source) as session,
            session.get(base + path, allow_redirects=False) as resp,
        ):
            answers[base, path, source] = resp.status
            if path == realm:
                assert (await resp.json())["issuer"].endswith(f"/realms/{tls.realm.name}")
    assert answers == expected


def test_the_caddyfile_as_compose_runs_it() -> None:
    """deploy/Caddyfile with the values docker-compose.yml gives Caddy from a filled-in .env:
    automatic (ACME) certificates for the three hosts, on 80/443, to the compose services."""
    env = {line.name: line.value or f"{line.name.lower()}-value" for line in env_example()}
    env.update(
        {
            "ALS_PUBLIC_URL": "https://link.example.com",
            "KC_HOSTNAME": "https://login.example.com",
            "KC_HOSTNAME_ADMIN": "https://kc-admin.example.com",
            "KC_ADMIN_ALLOWED_IPS": "198.51.100.0/24 203.0.113.7",
            "ACME_EMAIL": "ops@example.com",
        }
    )
    caddy_env = {
        name: interpolate(str(value), env)
        for name, value in load_compose()["services"]["caddy"]["environment"].items()
    }
    result = subprocess.run(
        [str(caddy_binary()), "adapt", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env={"PATH": "/usr/bin:/bin", **caddy_env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    http = config["apps"]["http"]
    assert (http["http_port"], http["https_port"]) == (80, 443)
    [server] = http["servers"].values()
    assert server["listen"] == [":443"]
    hosts = {host for route in server["routes"] for m in route["match"] for host in m["host"]}
    assert hosts == {"link.example.com", "login.example.com", "kc-admin.example.com"}
    dials = set(re.findall(r'"dial":\s*"([^"]+)"', result.stdout))
    assert dials == {"service:8080", "keycloak:8080"}
    assert "198.51.100.0/24" in result.stdout and "203.0.113.7" in result.stdout
    [policy] = config["apps"]["tls"]["automation"]["policies"]
    assert {issuer["module"] for issuer in policy["issuers"]} >= {"acme"}
    assert all(issuer.get("email") == "ops@example.com" for issuer in policy["issuers"])
