"""The whole mutual-linking flow, as the parties drive it: the customer logs in at Keycloak
and approves Alexa's link; Alexa exchanges our code and hands us an LWA code at the reciprocal
endpoint; the app backend gets the user's LWA token and sends a profile report, which the
Amazon stand-in receives; the customer then removes the link and the LWA tokens go with it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from service.oauth.clients import rotate_secret
from service.web.appkeys import ALEXA_RETRY, SETTINGS
from tests.linking.conftest import TEST_RETRY
from tests.support.browser import Browser
from tests.support.linking import (
    LWA_CLIENT_ID,
    PARTNER_ID,
    RECIPROCAL_GRANT,
    Linking,
    bearer,
    call,
    profile_report,
)
from tests.support.oauth import basic_auth, exchange_data, get_code, token_request


@pytest.fixture
async def server(
    aiohttp_server: Callable[..., Awaitable[TestServer]], make_app: Callable[..., web.Application]
) -> TestServer:
    """On a port registered at Keycloak: the customer really logs in."""
    app = make_app()
    app[ALEXA_RETRY] = TEST_RETRY
    return await aiohttp_server(app, port=app[SETTINGS].port)


async def test_customer_links_and_the_backend_sends_a_profile_report(
    linking: Linking, browser: Browser
) -> None:
    base = linking.base_url
    alexa = linking.alexa_client
    alexa_secret = "alexa-skill-secret-for-the-flow-test-0123456789"
    assert await rotate_secret(linking.db, alexa.client_id, alexa_secret, actor="test")

    # 1. Account linking in the browser: authorize → Keycloak login → consent → code.
    code = await get_code(browser, base, alexa, scope="profile alexa::health:profile:write")
    # 2. Alexa exchanges our code at our token endpoint.
    tokens = await token_request(
        base, exchange_data(code, alexa), client_id=alexa.client_id, secret=alexa_secret
    )
    assert tokens.status == 200, tokens.body
    our_access_token = tokens.body["access_token"]

    # 3. Alexa calls the reciprocal endpoint with an LWA code and our access token.
    lwa_code = linking.amazon.issue_code(LWA_CLIENT_ID)
    reciprocal = await call(
        "POST",
        f"{base}/api/reciprocal/authorize",
        headers=bearer(our_access_token),
        data={"grant_type": RECIPROCAL_GRANT, "client_id": PARTNER_ID, "code": lwa_code},
    )
    assert reciprocal.status == 200, reciprocal.body
    [link] = await linking.db["partner_tokens"].find({}).to_list(None)
    assert link["username"] == "user" and link["user_id"] != "user"  # Keycloak sub + username

    # 4. The app backend authenticates at our token endpoint (client_credentials)…
    backend_secret = "app-backend-secret-for-the-flow-test-0123456789"
    assert await rotate_secret(
        linking.db, linking.backend_client.client_id, backend_secret, actor="test"
    )
    cc = await call(
        "POST",
        f"{base}/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": basic_auth(linking.backend_client.client_id, backend_secret)},
    )
    assert cc.status == 200, cc.body
    backend_token = cc.body["access_token"]

    # …gets the user's LWA token, by username or by Keycloak id…
    for user_ref in ("user", link["user_id"]):
        answer = await call(
            "GET",
            f"{base}/api/partner/token",
            headers=bearer(backend_token),
            params={"user_id": user_ref, "partner_id": PARTNER_ID},
        )
        assert answer.status == 200, answer.body
        assert linking.amazon.is_access_token_valid(answer.body["access_token"])
    lwa_token = answer.body["access_token"]

    # 5. …and sends the profile report, which Alexa (the stand-in) receives.
    report = await call(
        "POST",
        f"{base}/api/partner/profile-report",
        headers=bearer(backend_token),
        json={"user_id": "user", "partner_id": PARTNER_ID, "report": profile_report()},
    )
    assert report.status == 202, report.body
    [received] = linking.amazon.requests
    assert received.path == "/v1/health/profile" and received.status == 202
    assert received.bearer_token == lwa_token
    assert received.body == {"report": profile_report()}

    # 6. The customer removes the link on their account page (and confirms it): the LWA
    # tokens go too.
    page = await browser.get(f"{base}/account")
    assert PARTNER_ID in page.text and "<dd>Active</dd>" in page.text
    confirm = await browser.get(f"{base}/account/remove?client_id={PARTNER_ID}")
    await browser.submit(confirm, confirm.form(id="remove-form"))
    gone = await call(
        "GET",
        f"{base}/api/partner/token",
        headers=bearer(backend_token),
        params={"user_id": "user", "partner_id": PARTNER_ID},
    )
    assert (gone.status, gone.body["error"]) == (409, "link_revoked")
    actions = [
        r["action"]
        for r in await linking.db["audit"]
        .find({"user_id": link["user_id"]})
        .sort("at", 1)
        .to_list(None)
    ]
    assert "link" in actions and "unlink" in actions
