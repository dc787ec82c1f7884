"""Admin pages: only for the realm role `admin`; clients, partners and links managed by POST."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestServer

from service.linking.partners import add_partner
from service.storage import clients as client_store
from service.storage import partners as partner_store
from service.web.appkeys import DB, KEYRING
from tests.support.browser import Browser
from tests.support.fixture_types import BrowserFactory
from tests.support.oauth import create_client, exchange_data, get_code, token_request


async def test_admin_pages_refuse_plain_users(base_url: str, browser: Browser) -> None:
    await browser.login(base_url, "user")
    for path in ("/admin", "/admin/clients", "/admin/partners", "/admin/links"):
        page = await browser.get(base_url + path)
        assert page.status == 403, path
    page = await browser.request("POST", f"{base_url}/admin/clients/x/delete", data={})
    assert page.status == 403


async def test_admin_creates_client_and_sees_secret_once(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    await browser.login(base_url, "admin")
    page = await browser.get(f"{base_url}/admin/clients/new")
    form = page.form(action="/admin/clients")
    created = await browser.submit(
        page,
        form,
        client_id="skill-from-admin",
        name="Skill from admin",
        redirect_uris="https://pitangui.amazon.com/api/skill/link/ABC\nhttps://layla.amazon.com/api/skill/link/ABC",
        scopes="profile",
    )
    assert created.status == 200, re.findall(r"id=\"error-message\">([^<]*)", created.text)
    secret = re.search(r'id="client-secret">([^<]+)<', created.text)
    assert secret
    stored = await client_store.get(server.app[DB], "skill-from-admin")
    assert stored is not None and len(stored.redirect_uris) == 2
    listing = await browser.get(f"{base_url}/admin/clients")
    assert "skill-from-admin" in listing.text and secret.group(1) not in listing.text
    answer = await token_request(
        base_url,
        {"grant_type": "client_credentials"},
        client_id="skill-from-admin",
        secret=secret.group(1),
    )
    assert answer.body.get("error") in ("unauthorized_client", "invalid_grant")  # authenticated


async def test_invalid_client_form_shows_error(base_url: str, browser: Browser) -> None:
    await browser.login(base_url, "admin")
    page = await browser.get(f"{base_url}/admin/clients/new")
    result = await browser.submit(
        page,
        page.form(action="/admin/clients"),
        name="x",
        redirect_uris="not a url",
        access_token_ttl="soon",
    )
    assert result.status == 400
    assert 'id="error-message"' in result.text


async def test_deleted_client_can_no_longer_get_tokens(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, secret = await create_client(
        server.app[DB], client_id="to-delete", grant_types=["client_credentials"]
    )
    await browser.login(base_url, "admin")
    page = await browser.get(f"{base_url}/admin/clients/to-delete/delete")  # asks first
    assert await client_store.get(server.app[DB], "to-delete") is not None
    form = page.form(action="/admin/clients/to-delete/delete")
    await browser.submit(page, form)
    assert await client_store.get(server.app[DB], "to-delete") is None
    answer = await token_request(
        base_url, {"grant_type": "client_credentials"}, client_id=client.client_id, secret=secret
    )
    assert answer.status == 401 and answer.body["error"] == "invalid_client"


async def test_get_never_deletes(server: TestServer, base_url: str, browser: Browser) -> None:
    await create_client(server.app[DB], client_id="keep-me")
    await browser.login(base_url, "admin")
    page = await browser.get(f"{base_url}/admin/clients/keep-me/delete")
    assert page.status == 200 and "cannot be undone" in page.text  # the question, no more
    assert await client_store.get(server.app[DB], "keep-me") is not None


async def test_partner_secret_is_never_shown(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    await browser.login(base_url, "admin")
    page = await browser.get(f"{base_url}/admin/partners/new")
    secret = "amzn1.oa2-cs.v1.super-secret-value"
    saved = await browser.submit(
        page,
        page.form(action="/admin/partners"),
        partner_id="skill-partner",
        lwa_client_id="amzn1.application-oa2-client.abc",
        lwa_client_secret=secret,
        lwa_token_url="EU",
        alexa_api_base="EU",
        scopes="alexa::health:profile:write",
    )
    assert saved.status == 200 and "skill-partner" in saved.text
    assert secret not in saved.text
    # No OAuth client has the partner's id yet: the list says Alexa cannot reach it.
    assert "No OAuth client has this id" in saved.text
    await create_client(server.app[DB], client_id="skill-partner")
    listed = await browser.get(f"{base_url}/admin/partners")
    assert "skill-partner" in listed.text and "No OAuth client has this id" not in listed.text
    edit = await browser.get(f"{base_url}/admin/partners/skill-partner")
    assert secret not in edit.text
    stored = await partner_store.get(server.app[DB], "skill-partner")
    assert stored is not None and stored.lwa_token_url == "https://api.amazon.co.uk/auth/o2/token"
    # Saving the edit form with the secret left empty keeps the stored secret.
    await browser.submit(edit, edit.form(action="/admin/partners"), lwa_client_secret="")
    again = await partner_store.get(server.app[DB], "skill-partner")
    assert again is not None

    assert again.lwa_client_secret.open(server.app[KEYRING]) == secret


async def test_admin_unlinks_a_user(
    server: TestServer, base_url: str, browser_factory: BrowserFactory
) -> None:
    customer, admin = browser_factory(), browser_factory()
    client, secret = await create_client(server.app[DB])
    code = await get_code(customer, base_url, client)
    tokens = await token_request(
        base_url, exchange_data(code, client), client_id=client.client_id, secret=secret
    )
    await admin.login(base_url, "admin")
    listing = await admin.get(f"{base_url}/admin/links")
    assert client.client_id in listing.text
    ask = re.search(r'href="(/admin/links/revoke\?[^"]+)"', listing.text)
    assert ask
    page = await admin.get(base_url + ask.group(1).replace("&amp;", "&"))
    form = next(f for f in page.forms if f.fields.get("client_id") == client.client_id)
    await admin.submit(page, form)
    me = await customer.session.get(
        f"{base_url}/api/me", headers={"Authorization": f"Bearer {tokens.body['access_token']}"}
    )
    assert me.status == 401


def _checked(html: str, name: str) -> list[str]:
    """The values of the checked checkboxes called `name`, as a browser would submit them."""
    pattern = r'<input type="checkbox" name="(\w+)" value="([^"]*)" checked>'
    return [m.group(2) for m in re.finditer(pattern, html) if m.group(1) == name]


async def test_editing_a_client_keeps_every_permission(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    # The backend's `introspect` permission and its partners (one known to us, shown as a
    # checkbox; one not added yet, in the text field) must survive an admin saving its form.
    db = server.app[DB]
    await add_partner(
        db,
        server.app[KEYRING],
        partner_id="skill-b",
        lwa_client_id="amzn1.b",
        lwa_client_secret="lwa-secret",
        region="EU",
    )
    await create_client(
        db,
        client_id="backend-1",
        grant_types=["client_credentials"],
        permissions=["partner_token:skill-a", "partner_token:skill-b", "introspect"],
    )
    await browser.login(base_url, "admin")
    page = await browser.get(f"{base_url}/admin/clients/backend-1")
    assert sorted(_checked(page.text, "permissions")) == ["introspect"]
    assert _checked(page.text, "partner_token") == ["skill-b"]
    form = page.form(action="/admin/clients/backend-1")
    assert form.fields["partner_token_other"] == "skill-a"
    multi = ("permissions", "grant_types", "partner_token", "name")
    data = [(k, v) for k, v in form.fields.items() if k not in multi]
    for name in ("permissions", "grant_types", "partner_token"):
        data += [(name, v) for v in _checked(page.text, name)]
    data.append(("name", "Backend renamed"))
    async with browser.session.post(
        f"{base_url}/admin/clients/backend-1", data=data, allow_redirects=False
    ) as resp:
        assert resp.status == 303, await resp.text()
    stored = await client_store.get(db, "backend-1")
    assert stored is not None and stored.name == "Backend renamed"
    assert stored.permissions == {"partner_token:skill-a", "partner_token:skill-b", "introspect"}
