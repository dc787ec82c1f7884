"""What the admin's user page says about an Alexa link (issue 13), read through the domain
against the real stack: the last refresh and the failure after it, and why a link ended."""

from __future__ import annotations

from service import admin_support
from service.web.appkeys import KEYCLOAK_ADMIN, SETTINGS
from tests.support.linking import USER_ID, Linking


async def _link_view(linking: Linking) -> admin_support.LinkView:
    app = linking.app
    view = await admin_support.customer(linking.db, app[KEYCLOAK_ADMIN], app[SETTINGS], USER_ID)
    assert len(view.links) == 1
    return view.links[0]


async def test_user_page_tells_refresh_failures_and_why_a_link_ended(linking: Linking) -> None:
    await linking.link()
    await linking.age_link()
    linking.amazon.set_lwa_down()
    assert (await linking.partner_token()).status == 503
    failed = await _link_view(linking)
    assert failed.active and failed.last_failure is not None
    assert failed.last_failure["details"]["reason"] == "lwa_unavailable"
    linking.amazon.set_lwa_down(False)
    assert (await linking.partner_token()).status == 200
    refreshed = await _link_view(linking)
    assert refreshed.link.refreshed_at is not None and refreshed.last_failure is None
    await linking.age_link()
    linking.amazon.revoke_all()  # the customer removed the permission at Amazon
    assert (await linking.partner_token()).status == 409
    ended = await _link_view(linking)
    assert not ended.active and ended.end_reason is not None
    assert "Login with Amazon refused the refresh token" in ended.end_reason
