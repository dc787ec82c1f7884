"""The admin forms at the trust boundaries (issue 10): a partner's URLs move only with its LWA
secret entered again, and a client's partner_token permissions name partners (one checkbox per
known partner, a text field for others), next to the RFC 9207 `iss` option."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestServer

from service.amazon import regions
from service.linking.partners import add_partner
from service.storage import clients as client_store
from service.storage import partners as partner_store
from service.web.appkeys import DB, KEYRING
from tests.support.browser import Browser

SECRET = "amzn1.oa2-cs.v1.the-stored-secret"


def _error(html: str) -> list[str]:
    return re.findall(r'id="error-message">([^<]*)', html)


async def test_moving_a_partner_needs_its_lwa_secret_again(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    db, keyring = server.app[DB], server.app[KEYRING]
    await add_partner(
        db, keyring, partner_id="skill-p", lwa_client_id="amzn1.p", lwa_client_secret=SECRET
    )
    await browser.login(base_url, "admin")
    edit = await browser.get(f"{base_url}/admin/partners/skill-p")
    form = edit.form(action="/admin/partners")
    moved = await browser.submit(edit, form, lwa_token_url="EU", alexa_api_base="EU")
    assert moved.status == 400
    assert _error(moved.text) == [
        "changing the LWA token URL or the Alexa API base needs the LWA client secret entered again"
    ]
    stored = await partner_store.get(db, "skill-p")
    assert stored is not None and stored.lwa_token_url == regions.LWA_TOKEN_URLS["NA"]

    # With the secret, but to the cloud's metadata service: refused whatever the settings.
    metadata = await browser.submit(
        edit, form, lwa_token_url="http://169.254.169.254/latest", lwa_client_secret="x"
    )
    assert metadata.status == 400
    assert _error(metadata.text) == [
        "LWA token URL must not point at a link-local or cloud metadata address"
    ]

    saved = await browser.submit(
        edit, form, lwa_token_url="EU", alexa_api_base="EU", lwa_client_secret="new-secret"
    )
    assert saved.status == 200 and "skill-p" in saved.text
    stored = await partner_store.get(db, "skill-p")
    assert stored is not None and stored.lwa_token_url == regions.LWA_TOKEN_URLS["EU"]
    assert stored.lwa_client_secret.open(keyring) == "new-secret"


async def test_the_client_form_names_partners_and_the_iss_option(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    db = server.app[DB]
    await add_partner(
        db,
        server.app[KEYRING],
        partner_id="skill-x",
        lwa_client_id="amzn1.x",
        lwa_client_secret="s",
    )
    await browser.login(base_url, "admin")
    page = await browser.get(f"{base_url}/admin/clients/new")
    assert 'name="partner_token" value="skill-x"' in page.text
    created = await browser.submit(
        page,
        page.form(action="/admin/clients"),
        client_id="backend-from-admin",
        name="Backend from admin",
        redirect_uris="https://pitangui.amazon.com/api/skill/link/ABC",
        partner_token="skill-x",
        partner_token_other="later-skill",
        authorization_response_iss="on",
    )
    assert created.status == 200, _error(created.text)
    stored = await client_store.get(db, "backend-from-admin")
    assert stored is not None and stored.authorization_response_iss
    assert stored.permissions == {"partner_token:skill-x", "partner_token:later-skill"}
