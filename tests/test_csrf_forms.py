"""Every form that changes something refuses a request without this session's CSRF token: the
admin forms (client create, update, new secret, delete; partner save, delete; unlink), the
customer's unlink on /account, logout and the consent decision. Each is sent with no token, an
empty one and a forged one (and once with another session's real token): each time 403 with a
readable page, and nothing changed. The same form with the session's token then does its work,
so the refusal is the token's doing and not that of the rest of the form.

The forms are posted with the fields their handlers read (not parsed from the pages), and the
session's token is read from the logout form that every page of a logged-in person carries."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aiohttp import web
from aiohttp.test_utils import TestServer

from service.app import ROUTES
from service.storage import authorization_codes, grants
from service.storage import clients as client_store
from service.storage import partners as partner_store
from service.web.appkeys import DB
from service.web.errors import JSON_PREFIXES
from tests.support.browser import Browser, Page
from tests.support.fixture_types import BrowserFactory
from tests.support.oauth import (
    ALEXA_REDIRECT_URIS,
    authorize_url,
    create_client,
    exchange_data,
    get_code,
    issue_tokens,
    open_authorize,
    token_request,
)

Fields = Sequence[tuple[str, str]]

# The page forms this file proves, by their routes (the JSON endpoints are client-authenticated
# and take no cookies: no CSRF there).
COVERED = {
    "/admin/clients",
    "/admin/clients/{client_id}",
    "/admin/clients/{client_id}/rotate-secret",
    "/admin/clients/{client_id}/delete",
    "/admin/partners",
    "/admin/partners/{partner_id}/delete",
    "/admin/links/revoke",
    "/admin/users/{user_id}/end-link",
    "/admin/users/{user_id}/end-all",
    "/account/revoke",
    # "Link with Alexa": their CSRF tests are in tests/test_alexa_link.py.
    "/account/alexa/link",
    "/account/alexa/unlink",
    "/admin/partners/{partner_id}/alexa-callback",
    "/logout",
    "/oauth/authorize",
}


def test_every_page_form_is_covered_here() -> None:
    """A new POST route for browsers needs its CSRF test in this file."""
    posts = {
        route.path
        for route in ROUTES
        if isinstance(route, web.RouteDef)
        and route.method == "POST"
        and not route.path.startswith(JSON_PREFIXES)
    }
    assert posts == COVERED, posts ^ COVERED


async def _session_token(browser: Browser, base_url: str) -> str:
    home = await browser.get(f"{base_url}/")
    return home.form(action="/logout").fields["csrf_token"]


def _forged(token: str) -> str:
    """The same length and alphabet as the real token, one character off."""
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def _assert_readable_403(page: Page, what: str) -> None:
    assert page.status == 403, (what, page.status, page.url, page.text[:300])
    assert page.redirect_to is None, what
    message = re.search(r'id="error-message">\s*([^<]*\S)\s*<', page.text)
    assert message, (what, page.text[:1000])


async def _assert_refused(
    browser: Browser, url: str, fields: Fields, token: str, *others: str
) -> None:
    """POST the form with no, an empty, a forged token (and each of `others`): all refused."""
    for what, value in [("no token", None), ("empty", ""), ("forged", _forged(token))] + [
        ("another session's", other) for other in others
    ]:
        data = list(fields) if value is None else [*fields, ("csrf_token", value)]
        _assert_readable_403(await browser.request("POST", url, data=data), f"{url}: {what}")


async def _admin(browser: Browser, base_url: str) -> str:
    await browser.login(base_url, "admin")
    return await _session_token(browser, base_url)


def _client_form(client_id: str, name: str) -> list[tuple[str, str]]:
    return [
        ("client_id", client_id),
        ("name", name),
        ("redirect_uris", "\n".join(ALEXA_REDIRECT_URIS)),
        ("grant_types", "authorization_code"),
        ("grant_types", "refresh_token"),
        ("scopes", "profile"),
        ("refresh_policy", "reuse"),
        ("access_token_ttl", "3600"),
        ("refresh_token_ttl", "0"),
    ]


async def test_client_create_needs_the_token(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    db = server.app[DB]
    token = await _admin(browser, base_url)
    url, fields = f"{base_url}/admin/clients", _client_form("csrf-new", "New skill")
    await _assert_refused(browser, url, fields, token)
    assert await client_store.get(db, "csrf-new") is None
    created = await browser.request("POST", url, data=[*fields, ("csrf_token", token)])
    assert created.status == 200 and await client_store.get(db, "csrf-new") is not None


async def test_client_update_needs_the_token(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    db = server.app[DB]
    await create_client(db, client_id="csrf-edit", name="Before")
    token = await _admin(browser, base_url)
    url, fields = f"{base_url}/admin/clients/csrf-edit", _client_form("csrf-edit", "After")
    await _assert_refused(browser, url, fields, token)
    stored = await client_store.get(db, "csrf-edit")
    assert stored is not None and stored.name == "Before"
    await browser.request("POST", url, data=[*fields, ("csrf_token", token)])
    stored = await client_store.get(db, "csrf-edit")
    assert stored is not None and stored.name == "After"


async def test_client_secret_rotation_needs_the_token(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    db = server.app[DB]
    client, secret = await create_client(
        db, client_id="csrf-rotate", grant_types=["client_credentials"]
    )
    token = await _admin(browser, base_url)
    url = f"{base_url}/admin/clients/csrf-rotate/rotate-secret"
    await _assert_refused(browser, url, [], token)
    grant = {"grant_type": "client_credentials"}
    answer = await token_request(base_url, grant, client_id=client.client_id, secret=secret)
    assert answer.status == 200, answer.body  # the old secret still works
    rotated = await browser.request("POST", url, data={"csrf_token": token})
    assert rotated.status == 200 and 'id="client-secret"' in rotated.text
    answer = await token_request(base_url, grant, client_id=client.client_id, secret=secret)
    assert answer.status == 401


async def test_client_delete_needs_the_token(
    server: TestServer, base_url: str, browser_factory: BrowserFactory
) -> None:
    db = server.app[DB]
    await create_client(db, client_id="csrf-delete")
    admin, other = browser_factory(), browser_factory()
    token = await _admin(admin, base_url)
    await other.login(base_url, "user")
    # A real token, of another person's session: refused as well.
    others_token = await _session_token(other, base_url)
    url = f"{base_url}/admin/clients/csrf-delete/delete"
    await _assert_refused(admin, url, [], token, others_token)
    assert await client_store.get(db, "csrf-delete") is not None
    await admin.request("POST", url, data={"csrf_token": token})
    assert await client_store.get(db, "csrf-delete") is None


def _partner_form(partner_id: str) -> list[tuple[str, str]]:
    return [
        ("partner_id", partner_id),
        ("lwa_client_id", "amzn1.application-oa2-client.csrf"),
        ("lwa_client_secret", "lwa-secret-for-the-csrf-test"),
        ("lwa_token_url", "NA"),
        ("alexa_api_base", "NA"),
        ("scopes", "alexa::health:profile:write"),
    ]


async def test_partner_save_needs_the_token(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    db = server.app[DB]
    token = await _admin(browser, base_url)
    url, fields = f"{base_url}/admin/partners", _partner_form("csrf-partner")
    await _assert_refused(browser, url, fields, token)
    assert await partner_store.get(db, "csrf-partner") is None
    saved = await browser.request("POST", url, data=[*fields, ("csrf_token", token)])
    assert saved.status == 200, saved.text[:500]
    assert await partner_store.get(db, "csrf-partner") is not None


async def test_partner_delete_needs_the_token(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    db = server.app[DB]
    token = await _admin(browser, base_url)
    saved = await browser.request(
        "POST",
        f"{base_url}/admin/partners",
        data=[*_partner_form("csrf-gone"), ("csrf_token", token)],
    )
    assert saved.status == 200 and await partner_store.get(db, "csrf-gone") is not None
    url = f"{base_url}/admin/partners/csrf-gone/delete"
    await _assert_refused(browser, url, [], token)
    assert await partner_store.get(db, "csrf-gone") is not None
    await browser.request("POST", url, data={"csrf_token": token})
    assert await partner_store.get(db, "csrf-gone") is None


async def _me_status(base_url: str, browser: Browser, access_token: str) -> int:
    async with browser.session.get(
        f"{base_url}/api/me", headers={"Authorization": f"Bearer {access_token}"}
    ) as resp:
        return resp.status


async def test_admin_unlink_needs_the_token(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    app = server.app
    client, _ = await create_client(app[DB], client_id="csrf-linked")
    tokens = await issue_tokens(app, client, user_id="u-csrf", username="linked-user")
    token = await _admin(browser, base_url)
    url = f"{base_url}/admin/links/revoke"
    fields = [("user_id", "u-csrf"), ("client_id", client.client_id)]
    await _assert_refused(browser, url, fields, token)
    assert await grants.get(app[DB], user_id="u-csrf", client_id=client.client_id) is not None
    assert await _me_status(base_url, browser, tokens["access_token"]) == 200
    await browser.request("POST", url, data=[*fields, ("csrf_token", token)])
    assert await _me_status(base_url, browser, tokens["access_token"]) == 401


async def test_admin_ending_a_customers_links_needs_the_token(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    app = server.app
    one, _ = await create_client(app[DB], client_id="csrf-end-one")
    two, _ = await create_client(app[DB], client_id="csrf-end-two")
    first = await issue_tokens(app, one, user_id="u-csrf-end", username="ending-user")
    second = await issue_tokens(app, two, user_id="u-csrf-end", username="ending-user")
    token = await _admin(browser, base_url)
    url = f"{base_url}/admin/users/u-csrf-end/end-link"
    fields = [("client_id", one.client_id)]
    await _assert_refused(browser, url, fields, token)
    assert await _me_status(base_url, browser, first["access_token"]) == 200
    await browser.request("POST", url, data=[*fields, ("csrf_token", token)])
    assert await _me_status(base_url, browser, first["access_token"]) == 401
    url = f"{base_url}/admin/users/u-csrf-end/end-all"
    await _assert_refused(browser, url, [], token)
    assert await _me_status(base_url, browser, second["access_token"]) == 200
    await browser.request("POST", url, data={"csrf_token": token})
    assert await _me_status(base_url, browser, second["access_token"]) == 401


async def test_account_unlink_needs_the_token(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, secret = await create_client(server.app[DB], client_id="csrf-mine")
    code = await get_code(browser, base_url, client)  # logs in as `user` and allows
    answer = await token_request(
        base_url, exchange_data(code, client), client_id=client.client_id, secret=secret
    )
    access = answer.body["access_token"]
    token = await _session_token(browser, base_url)
    url, fields = f"{base_url}/account/revoke", [("client_id", client.client_id)]
    await _assert_refused(browser, url, fields, token)
    assert await _me_status(base_url, browser, access) == 200
    await browser.request("POST", url, data=[*fields, ("csrf_token", token)])
    assert await _me_status(base_url, browser, access) == 401


async def test_logout_needs_the_token(base_url: str, browser: Browser) -> None:
    await browser.login(base_url, "user")
    token = await _session_token(browser, base_url)
    await _assert_refused(browser, f"{base_url}/logout", [], token)
    account = await browser.get(f"{base_url}/account")
    assert account.status == 200 and account.url == f"{base_url}/account"  # still logged in
    await browser.request("POST", f"{base_url}/logout", data={"csrf_token": token})
    account = await browser.get(f"{base_url}/account")
    assert 'id="kc-form-login"' in account.text  # logged out: sent to Keycloak's login


async def test_consent_decision_needs_the_token(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    db = server.app[DB]
    client, _ = await create_client(db, client_id="csrf-consent")
    page = await open_authorize(browser, authorize_url(base_url, client))
    form = page.form(id="consent-form")
    token = form.fields["csrf_token"]
    fields = [(k, v) for k, v in form.fields.items() if k != "csrf_token"] + [("approve", "")]
    url = f"{base_url}/oauth/authorize"
    await _assert_refused(browser, url, fields, token)
    assert await db[authorization_codes.COLLECTION].count_documents({}) == 0  # no code made
    assert await grants.list_for_client(db, client.client_id) == []  # no consent remembered
    decided = await browser.request("POST", url, data=[*fields, ("csrf_token", token)])
    assert "code" in decided.redirect_params
