"""The support pages (issue 13): linked accounts found by the start of a name, email or id and
paged; the audit trail filtered, paged and exported as CSV (with names next to ids, and no
cell a spreadsheet would run); exact counts; clients and partners paged and searchable; bad
query parameters answered with a readable 400; a non-admin refused everywhere; one customer's
page with their links, whose actions (end one, end all) need a confirmation and a CSRF token."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from aiohttp.test_utils import TestServer

from service.clock import utcnow
from service.linking.partners import add_partner
from service.storage import audit, grants
from service.storage import partners as partner_store
from service.web.appkeys import DB, KEYRING
from tests.support.browser import Browser
from tests.support.fixture_types import BrowserFactory
from tests.support.oauth import create_client, issue_tokens

NEW_PAGES = (
    "/admin/audit",
    "/admin/audit.csv",
    "/admin/users/some-user",
    "/admin/users/some-user/end-link?client_id=c",
    "/admin/users/some-user/end-all",
    "/admin/links/revoke?user_id=u&client_id=c",
    "/admin/clients/c/delete",
    "/admin/partners/p/delete",
    "/admin/links?q=a&page=2",
)


def _rows(text: str, table: str) -> list[str]:
    body = re.search(rf'<table class="admin" id="{table}">(.*?)</table>', text, re.S)
    assert body, table
    return re.findall(r"<tr>(.*?)</tr>", body.group(1).split("<tbody>")[1], re.S)


async def test_a_plain_user_gets_403_on_every_new_page(base_url: str, browser: Browser) -> None:
    await browser.login(base_url, "user")
    for path in NEW_PAGES:
        page = await browser.get(base_url + path)
        assert page.status == 403, path
        assert 'id="error-message"' in page.text, path
    token = (await browser.get(f"{base_url}/")).form(action="/logout").fields["csrf_token"]
    for path in ("/admin/users/u/end-link", "/admin/users/u/end-all"):
        page = await browser.request(
            "POST", base_url + path, data={"csrf_token": token, "client_id": "c"}
        )
        assert page.status == 403, path


async def test_search_by_start_of_name_email_or_id_paged_newest_first(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    db = server.app[DB]
    client, _ = await create_client(db, client_id="paging-skill", name="Paging Skill")
    for i in range(60):  # more than a page (50)
        await grants.remember(
            db,
            user_id=f"0000{i:04d}-id",
            username=f"Kim{i:02d}",
            email=f"kim{i:02d}@Example.org",
            client_id=client.client_id,
            scopes=frozenset({"profile"}),
        )
    await grants.remember(
        db,
        user_id="ffff-other",
        username="zed",
        email="z@example.org",
        client_id=client.client_id,
        scopes=frozenset({"profile"}),
    )
    await browser.login(base_url, "admin")
    first = await browser.get(f"{base_url}/admin/links?q=KIM")
    rows = _rows(first.text, "links")
    assert len(rows) == 50 and "Kim59" in rows[0] and "Kim10" in rows[-1]  # newest first
    assert "zed" not in first.text and "Page 1 of 2 (60 in all)" in first.text
    assert 'id="previous-page"' not in first.text
    nxt = re.search(r'id="next-page" href="([^"]+)"', first.text)
    assert nxt
    second = await browser.get(base_url + nxt.group(1).replace("&amp;", "&"))
    rows = _rows(second.text, "links")
    assert len(rows) == 10 and "Kim09" in rows[0] and "Kim00" in rows[-1]
    assert 'id="next-page"' not in second.text and 'id="previous-page"' in second.text
    by_email = await browser.get(f"{base_url}/admin/links?q=kim07@example")
    assert len(_rows(by_email.text, "links")) == 1 and "Kim07" in by_email.text
    by_id = await browser.get(f"{base_url}/admin/links?q=FFFF")
    assert len(_rows(by_id.text, "links")) == 1 and "zed" in by_id.text
    # The overview counts exactly (61 linked accounts, plus any from other tests' clients).
    overview = await browser.get(f"{base_url}/admin")
    count = re.search(r'id="count-links">([\d,]+)<', overview.text)
    assert count and int(count.group(1).replace(",", "")) == await grants.count(db) == 61


async def test_bad_query_parameters_get_a_readable_400(base_url: str, browser: Browser) -> None:
    await browser.login(base_url, "admin")
    for path in (
        "/admin/links?page=-1",
        "/admin/links?page=abc",
        "/admin/links?page=0",
        "/admin/clients?page=99999999999",
        "/admin/audit?since=garbage",
        "/admin/audit.csv?since=2026-13-45",
        "/admin/audit?user=" + "x" * 300,
        "/admin/partners?q=%00",
    ):
        page = await browser.get(base_url + path)
        assert page.status == 400, path
        assert re.search(r'id="error-message">\s*\S', page.text), path


async def test_audit_filters_pages_names_and_csv(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    db = server.app[DB]
    client, _ = await create_client(db, client_id="audit-skill", name="Audit Skill")
    await issue_tokens(server.app, client, user_id="u-audit", username="audrey")
    for i in range(55):
        await audit.record(
            db, "refresh_failed", actor="client:x", user_id="u-audit", partner_id="p1", n=i
        )
    await audit.record(db, "link", actor="client:x", user_id="u-other", partner_id="p2")
    await audit.record(db, "oauth.consent", actor="=HYPERLINK(1)", client_id=client.client_id)
    await browser.login(base_url, "admin")
    page = await browser.get(f"{base_url}/admin/audit?user=u-audit&event=refresh_failed")
    rows = _rows(page.text, "events")
    assert len(rows) == 50 and "n=54" in rows[0] and "audrey" in rows[0]  # the name by the id
    second = await browser.get(f"{base_url}/admin/audit?user=u-audit&event=refresh_failed&page=2")
    assert len(_rows(second.text, "events")) == 5
    partner = await browser.get(f"{base_url}/admin/audit?partner=p2")
    assert len(_rows(partner.text, "events")) == 1
    by_client = await browser.get(f"{base_url}/admin/audit?client=audit-skill")
    # client_created (by create_client) and the consent, each with the client's name.
    assert len(_rows(by_client.text, "events")) == 2
    assert by_client.text.count("Audit Skill<div") == 2
    future = (utcnow() + timedelta(days=1)).strftime("%Y-%m-%d")
    later = await browser.get(f"{base_url}/admin/audit?since={future}")
    assert "Nothing here." in later.text
    recent = await browser.get(f"{base_url}/admin/audit?since=1h")
    assert len(_rows(recent.text, "events")) == 50 and 'id="next-page"' in recent.text
    # The CSV of the filtered view: every row, not a page; a formula-like cell made harmless.
    async with browser.session.get(f"{base_url}/admin/audit.csv?user=u-audit") as resp:
        assert resp.status == 200 and resp.content_type == "text/csv"
        table = list(csv.reader(io.StringIO(await resp.text())))
    assert table[0][:3] == ["at", "action", "actor"] and len(table) == 1 + 55
    assert {row[5] for row in table[1:]} == {"audrey"}
    async with browser.session.get(f"{base_url}/admin/audit.csv?event=oauth.consent") as resp:
        consent = list(csv.reader(io.StringIO(await resp.text())))
    actor = next(row[2] for row in consent[1:] if "HYPERLINK" in row[2])
    assert actor == "'=HYPERLINK(1)"


async def test_clients_list_is_paged_and_searchable_and_delete_asks_first(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    db = server.app[DB]
    for i in range(52):
        await create_client(db, client_id=f"bulk-{i:02d}", name=f"Bulk {i:02d}")
    await create_client(db, client_id="lonely", name="Other")
    await browser.login(base_url, "admin")
    first = await browser.get(f"{base_url}/admin/clients?q=BULK")
    assert len(_rows(first.text, "clients")) == 50 and 'id="next-page"' in first.text
    second = await browser.get(f"{base_url}/admin/clients?q=bulk&page=2")
    assert len(_rows(second.text, "clients")) == 2
    found = await browser.get(f"{base_url}/admin/clients?q=oth")  # by name, any case
    assert len(_rows(found.text, "clients")) == 1 and "lonely" in found.text
    ask = await browser.get(f"{base_url}/admin/clients/lonely/delete")
    assert ask.status == 200 and "cannot be undone" in ask.text
    assert (await browser.get(f"{base_url}/admin/clients?q=lonely")).text.count("lonely") >= 1
    await browser.submit(ask, ask.form(action="/admin/clients/lonely/delete"))
    gone = await browser.get(f"{base_url}/admin/clients?q=lonely")
    assert "No client starts with" in gone.text


async def test_user_page_and_its_actions_need_confirmation_and_csrf(
    server: TestServer, base_url: str, browser_factory: BrowserFactory
) -> None:
    app = server.app
    one, _ = await create_client(app[DB], client_id="end-one", name="End One")
    two, _ = await create_client(app[DB], client_id="end-two", name="End Two")
    await issue_tokens(app, one, user_id="u-end", username="endy")
    await issue_tokens(app, two, user_id="u-end", username="endy")
    admin = browser_factory()
    await admin.login(base_url, "admin")
    page = await admin.get(f"{base_url}/admin/users/u-end")
    assert page.status == 200 and "endy" in page.text and "End One" in page.text
    # Keycloak has no such user: the page says so and shows what we stored.
    assert 'id="keycloak-note"' in page.text
    ask = await admin.get(f"{base_url}/admin/users/u-end/end-link?client_id=end-one")
    form = ask.form(action="/admin/users/u-end/end-link")
    token = form.fields["csrf_token"]
    url = f"{base_url}/admin/users/u-end/end-link"
    for bad in ({}, {"csrf_token": token[:-1] + ("A" if token[-1] != "A" else "B")}):
        refused = await admin.request("POST", url, data={"client_id": "end-one", **bad})
        assert refused.status == 403
    assert await grants.get(app[DB], user_id="u-end", client_id="end-one") is not None
    after = await admin.submit(ask, form)
    assert after.status == 200 and "End Two" in after.text
    assert await grants.get(app[DB], user_id="u-end", client_id="end-one") is None
    assert await grants.get(app[DB], user_id="u-end", client_id="end-two") is not None
    ask_all = await admin.get(f"{base_url}/admin/users/u-end/end-all")
    form = ask_all.form(action="/admin/users/u-end/end-all")
    refused = await admin.request("POST", f"{base_url}/admin/users/u-end/end-all", data={})
    assert refused.status == 403
    await admin.submit(ask_all, form)
    assert await grants.list_for_user(app[DB], "u-end") == []
    assert "oauth.unlink" in (await admin.get(f"{base_url}/admin/users/u-end")).text


async def test_the_partner_list_flags_stored_amazon_urls_that_may_no_longer_be_called(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    """A partner stored by an older version with a URL the allow-list now refuses (a link-local
    address is refused whatever the settings): the admin sees it before a customer meets it."""
    db = server.app[DB]
    for partner_id in ("good-skill", "old-skill"):
        await add_partner(
            db,
            server.app[KEYRING],
            partner_id=partner_id,
            lwa_client_id="amzn1.application-oa2-client.x",
            lwa_client_secret="secret",
            actor="test",
            allow_custom_urls=False,
        )
    await db[partner_store.COLLECTION].update_one(
        {"_id": "old-skill"}, {"$set": {"alexa_api_base": "http://169.254.169.254"}}
    )
    await browser.login(base_url, "admin")
    page = await browser.get(f"{base_url}/admin/partners")
    assert page.status == 200
    rows = page.text.split("<tr>")
    old_row = next(r for r in rows if "/admin/partners/old-skill" in r)
    good_row = next(r for r in rows if "/admin/partners/good-skill" in r)
    assert "refused-urls" in old_row and "Alexa API base" in old_row
    assert "refused-urls" not in good_row
