"""GET|POST /api/partner/token (docs/flows.md flow 4; docs/alexa-protocols.md R23-R25)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service.linking.tokens import REFRESH_MARGIN
from tests.support.identity import realm_users
from tests.support.linking import (
    LWA_CLIENT_ID,
    PARTNER_ID,
    USER_ID,
    Linking,
    bearer,
    call,
)
from tests.support.oauth import client_credentials_token, create_client


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_serves_the_stored_token_without_calling_lwa(linking: Linking, method: str) -> None:
    await linking.link()
    answer = await linking.partner_token(method=method)
    assert answer.status == 200
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.body["token_type"] == "Bearer"
    assert 3600 - 5 <= answer.body["expires_in"] <= 3600
    assert set(answer.body) == {"access_token", "token_type", "expires_in"}
    again = await linking.partner_token(method=method)
    assert again.body["access_token"] == answer.body["access_token"]
    assert linking.amazon.refresh_count == 0


async def test_json_post_is_accepted(linking: Linking) -> None:
    await linking.link()
    answer = await call(
        "POST",
        f"{linking.base_url}/api/partner/token",
        json={"user_id": USER_ID, "partner_id": PARTNER_ID},
        headers=bearer(linking.backend_token),
    )
    assert answer.status == 200


async def test_username_is_accepted_as_user_id(linking: Linking) -> None:
    """A username is resolved through Keycloak (tests/linking/test_identity_sync.py)."""
    with realm_users() as users:
        user = users.create("name")
        await linking.link(user.id, user.username)
        by_id = await linking.partner_token(user.id)
        by_name = await linking.partner_token(user.username)
    assert by_name.status == 200
    assert by_name.body["access_token"] == by_id.body["access_token"]


async def test_refreshes_within_the_safety_margin(linking: Linking) -> None:
    await linking.link()
    before = (await linking.partner_token()).body["access_token"]
    # Just inside the margin: the token still works at Amazon but is not served any more.
    doc = await linking.link_doc()
    assert doc is not None
    lifetime = (doc["expires_at"] - datetime.now(UTC)).total_seconds()
    assert lifetime > REFRESH_MARGIN
    await linking.db["partner_tokens"].update_one(
        {"_id": doc["_id"]}, {"$set": {"refresh_at": datetime.now(UTC)}}
    )
    answer = await linking.partner_token()
    assert answer.status == 200
    assert answer.body["access_token"] != before
    assert linking.amazon.is_access_token_valid(answer.body["access_token"])
    assert linking.amazon.refresh_count == 1
    [refresh] = [c for c in linking.amazon.lwa_calls if c.grant_type == "refresh_token"]
    assert refresh.client_id == LWA_CLIENT_ID and refresh.has_client_secret
    # Stored: the next call is served without LWA.
    assert (await linking.partner_token()).body["access_token"] == answer.body["access_token"]
    assert linking.amazon.refresh_count == 1


async def test_rotated_refresh_token_is_persisted(linking: Linking) -> None:
    linking.amazon.set_rotate_refresh_tokens(True, revoke_previous=True)
    await linking.link()
    doc = await linking.link_doc()
    assert doc is not None
    for _ in range(3):  # each refresh must use the refresh token of the previous one
        await linking.age_link()
        answer = await linking.partner_token()
        assert answer.status == 200, answer.body
    assert linking.amazon.refresh_count == 3
    after = await linking.link_doc()
    assert after is not None and after["refresh_token_enc"] != doc["refresh_token_enc"]


async def test_refresh_without_new_refresh_token_keeps_the_old(linking: Linking) -> None:
    await linking.link()
    doc = await linking.link_doc()
    assert doc is not None
    await linking.age_link()
    # LWA answers without a refresh_token this time.
    linking.amazon.queue_lwa_responses(
        200, {"access_token": "Atza|" + "x" * 400, "token_type": "bearer", "expires_in": 3600}
    )
    answer = await linking.partner_token()
    assert answer.status == 200 and answer.body["access_token"] == "Atza|" + "x" * 400
    after = await linking.link_doc()
    assert after is not None
    assert after["refresh_token_enc"] == doc["refresh_token_enc"]
    assert after["access_token_enc"] != doc["access_token_enc"]
    # …and the kept refresh token still works for the next refresh.
    await linking.age_link()
    assert (await linking.partner_token()).status == 200
    assert linking.amazon.refresh_count == 2


async def test_invalid_grant_on_refresh_revokes_the_link(linking: Linking) -> None:
    await linking.link()
    await linking.age_link()
    linking.amazon.revoke_all()  # the customer removed the skill's permission at Amazon
    answer = await linking.partner_token()
    assert (answer.status, answer.body["error"]) == (409, "link_revoked")
    assert "link the skill again" in answer.body["error_description"]
    doc = await linking.link_doc()
    assert doc is not None
    assert doc["status"] == "revoked" and doc["status_reason"] == "lwa_invalid_grant"
    assert doc["access_token_enc"] is None and doc["refresh_token_enc"] is None
    assert "refresh_failed" in await linking.audit_actions()
    # No more calls to LWA for a dead link.
    again = await linking.partner_token()
    assert again.status == 409
    assert linking.amazon.refresh_count == 1
    # Linking again brings it back.
    await linking.link()
    assert (await linking.partner_token()).status == 200


async def test_lwa_down_on_refresh_is_503_and_keeps_the_stored_token(linking: Linking) -> None:
    await linking.link()
    before = await linking.link_doc()
    await linking.age_link()
    linking.amazon.set_lwa_down()
    answer = await linking.partner_token()
    assert (answer.status, answer.body["error"]) == (503, "temporarily_unavailable")
    after = await linking.link_doc()
    assert after is not None and before is not None
    assert after["status"] == "active"
    assert after["refresh_token_enc"] == before["refresh_token_enc"]
    lease = await linking.db["refresh_leases"].find_one({"user_id": USER_ID})
    assert lease is not None and lease["outcome"] == "unavailable"
    assert "refresh_failed" in await linking.audit_actions()
    linking.amazon.set_lwa_down(False)
    answer = await linking.partner_token()
    assert answer.status == 200
    assert linking.amazon.is_access_token_valid(answer.body["access_token"])


async def test_lwa_down_inside_the_margin_serves_the_still_valid_token(linking: Linking) -> None:
    await linking.link()
    before = (await linking.partner_token()).body["access_token"]
    doc = await linking.link_doc()
    assert doc is not None
    await linking.db["partner_tokens"].update_one(
        {"_id": doc["_id"]}, {"$set": {"refresh_at": datetime.now(UTC)}}
    )
    linking.amazon.set_lwa_down()
    answer = await linking.partner_token()
    assert answer.status == 200
    assert answer.body["access_token"] == before
    assert 3600 - 30 <= answer.body["expires_in"] <= 3600  # the truth, not a fresh hour
    linking.amazon.set_lwa_down(False)
    answer = await linking.partner_token()  # still due: refreshed now that LWA answers
    assert answer.status == 200 and answer.body["access_token"] != before
    assert linking.amazon.is_access_token_valid(answer.body["access_token"])


async def test_unknown_link_is_404(linking: Linking) -> None:
    answer = await linking.partner_token("nobody")
    assert (answer.status, answer.body["error"]) == (404, "link_not_found")


async def test_unknown_partner_is_404(linking: Linking) -> None:
    # A backend may hold the permission for a partner not added yet (or removed since); for
    # one it holds no permission for, the answer is 403 (tests/linking/test_backend_scope.py).
    await linking.link()
    backend, _ = await create_client(
        linking.db,
        grant_types=["client_credentials"],
        permissions=["partner_token:no-such-partner"],
    )
    token = await client_credentials_token(linking.app, backend)
    answer = await linking.partner_token(partner_id="no-such-partner", token=token)
    assert (answer.status, answer.body["error"]) == (404, "partner_not_found")


@pytest.mark.parametrize("missing", ["user_id", "partner_id"])
async def test_missing_parameter_is_400(linking: Linking, missing: str) -> None:
    params = {"user_id": USER_ID, "partner_id": PARTNER_ID}
    del params[missing]
    answer = await call(
        "GET",
        f"{linking.base_url}/api/partner/token",
        params=params,
        headers=bearer(linking.backend_token),
    )
    assert (answer.status, answer.body["error"]) == (400, "invalid_request")
    assert missing in answer.body["error_description"]


async def test_no_bearer_is_401(linking: Linking) -> None:
    answer = await call(
        "GET",
        f"{linking.base_url}/api/partner/token",
        params={"user_id": USER_ID, "partner_id": PARTNER_ID},
    )
    assert answer.status == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


async def test_client_without_the_permission_is_403(linking: Linking) -> None:
    await linking.link()
    other, _ = await create_client(
        linking.db, name="Other backend", grant_types=["client_credentials"]
    )
    answer = await linking.partner_token(token=await client_credentials_token(linking.app, other))
    assert (answer.status, answer.body["error"]) == (403, "insufficient_scope")
    assert 'error="insufficient_scope"' in answer.headers["WWW-Authenticate"]
    assert "access_token" not in answer.body


async def test_user_token_is_403_even_for_a_permitted_client(linking: Linking) -> None:
    """A token acting for one user never reads another user's (or any) Amazon tokens."""
    await linking.link()
    answer = await linking.partner_token(token=await linking.user_token())
    assert (answer.status, answer.body["error"]) == (403, "insufficient_scope")


async def test_repeated_query_parameter_is_400(linking: Linking) -> None:
    """As with a repeated form field: never pick one of two user ids silently."""
    await linking.link()
    await linking.link(user_id="other-user", username="other")
    answer = await call(
        "GET",
        f"{linking.base_url}/api/partner/token",
        params=[("user_id", "other-user"), ("user_id", USER_ID), ("partner_id", PARTNER_ID)],
        headers=bearer(linking.backend_token),
    )
    assert (answer.status, answer.body["error"]) == (400, "invalid_request")
    assert "user_id" in answer.body["error_description"]


async def test_body_of_another_type_is_400_naming_both_accepted_types(linking: Linking) -> None:
    answer = await call(
        "POST",
        f"{linking.base_url}/api/partner/token",
        data=b"user_id=x",
        headers={**bearer(linking.backend_token), "Content-Type": "text/plain"},
    )
    assert (answer.status, answer.body["error"]) == (400, "invalid_request")
    assert "application/json" in answer.body["error_description"]
