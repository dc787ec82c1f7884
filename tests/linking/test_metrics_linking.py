"""What mutual linking counts: LWA calls by outcome, Alexa API calls by status, partner tokens
served from the store versus refreshed, links created and ended."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from service.oauth.unlink import revoke_grant
from service.storage import partner_tokens
from service.wiring import unlink_hooks
from tests.support.linking import PARTNER_ID, USER_ID, Linking
from tests.support.metrics import Delta

LWA = "als_lwa_requests_total"
ALEXA = "als_alexa_requests_total"
SERVED = "als_partner_tokens_served_total"
CREATED = "als_links_created_total"
ENDED = "als_links_ended_total"


async def _near_expiry(linking: Linking, left: timedelta) -> None:
    """The stored token is past its refresh point but still valid for `left`."""
    doc = await linking.link_doc()
    assert doc is not None
    now = datetime.now(UTC)
    await linking.db[partner_tokens.COLLECTION].update_one(
        {"_id": doc["_id"]},
        {"$set": {"refresh_at": now - timedelta(seconds=1), "expires_at": now + left}},
    )


async def test_link_refresh_and_delivery_are_counted(linking: Linking) -> None:
    delta = Delta()
    await linking.link()
    assert delta.of(CREATED, via="reciprocal") == 1
    assert delta.of(LWA, grant_type="authorization_code", outcome="success") == 1

    assert (await linking.partner_token()).status == 200
    assert delta.of(SERVED, source="cache") == 1
    await linking.age_link()
    assert (await linking.partner_token()).status == 200
    assert delta.of(SERVED, source="refresh") == 1
    assert delta.of(LWA, grant_type="refresh_token", outcome="success") == 1

    # Alexa refuses the (expired) token once: refreshed, sent again, accepted.
    linking.amazon.expire_access_tokens()
    assert (await linking.profile_report()).status == 202
    assert delta.of(ALEXA, status="401") == 1
    assert delta.of(ALEXA, status="202") == 1
    assert delta.of(SERVED, source="cache") == 2
    assert delta.of(SERVED, source="refresh") == 2
    assert delta.of("als_alexa_request_duration_seconds_count") == 2
    # Outbound buckets reach 30 s.
    assert (
        delta.of("als_lwa_request_duration_seconds_bucket", grant_type="refresh_token", le="30.0")
        == 2
    )


async def test_lwa_failures_are_counted_by_outcome(linking: Linking) -> None:
    await linking.link()
    delta = Delta()
    linking.amazon.set_lwa_down(mode="503")
    await _near_expiry(linking, timedelta(minutes=10))
    assert (await linking.partner_token()).status == 200  # the stored token, still valid
    assert delta.of(LWA, grant_type="refresh_token", outcome="unavailable") == 1
    assert delta.of(SERVED, source="fallback") == 1

    linking.amazon.set_lwa_down(mode="close")
    assert (await linking.partner_token()).status == 200
    assert delta.of(LWA, grant_type="refresh_token", outcome="network_error") == 1

    linking.amazon.set_lwa_down(False)
    linking.amazon.revoke_all()
    await linking.age_link()
    assert (await linking.partner_token()).status == 409
    assert delta.of(LWA, grant_type="refresh_token", outcome="invalid_grant") == 1
    assert delta.of(ENDED, reason="lwa_invalid_grant") == 1
    assert delta.of(SERVED, source="fallback") == 2


async def test_one_refresh_for_concurrent_callers_and_unlinks_are_counted(
    linking: Linking,
) -> None:
    await linking.link()
    delta = Delta()
    linking.amazon.set_lwa_delay(0.3)
    await linking.age_link()
    answers = await asyncio.gather(linking.partner_token(), linking.partner_token())
    assert [answer.status for answer in answers] == [200, 200]
    assert delta.of(SERVED, source="refresh") == 1
    assert delta.of(SERVED, source="concurrent_refresh") == 1
    assert delta.of(LWA, grant_type="refresh_token", outcome="success") == 1

    await revoke_grant(linking.db, unlink_hooks(), user_id=USER_ID, client_id=PARTNER_ID)
    await revoke_grant(linking.db, unlink_hooks(), user_id=USER_ID, client_id=PARTNER_ID)
    assert delta.of(ENDED, reason="unlinked") == 1  # a second unlink ends nothing
