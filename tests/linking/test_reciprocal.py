"""POST /api/reciprocal/authorize (docs/alexa-protocols.md §2.2-2.3, R17-R21)."""

from __future__ import annotations

import time

import pytest

from service.storage import partner_tokens
from service.web.appkeys import SETTINGS
from tests.amazon_standin import LwaDownMode
from tests.support.linking import (
    LWA_CLIENT_ID,
    PARTNER_ID,
    USER_ID,
    USERNAME,
    Linking,
    bearer,
    call,
)
from tests.support.oauth import client_credentials_token, create_client


async def test_valid_call_exchanges_the_code_and_stores_tokens(linking: Linking) -> None:
    answer = await linking.link()
    assert answer.body == {"status": "linked"}
    assert answer.headers["Cache-Control"] == "no-store"
    # One exchange at the partner's LWA URL with its LWA credentials, in the body.
    [call_] = linking.amazon.lwa_calls
    assert (call_.grant_type, call_.client_id, call_.client_auth, call_.status) == (
        "authorization_code",
        LWA_CLIENT_ID,
        "body",
        200,
    )
    doc = await linking.link_doc()
    assert doc is not None
    assert doc["status"] == "active" and doc["username"] == USERNAME
    assert doc["alexa_api_base"] == linking.amazon.base_url
    assert doc["access_token_enc"].startswith("v1.") and doc["refresh_token_enc"].startswith("v1.")
    assert "link" in await linking.audit_actions()


async def test_stored_tokens_are_the_ones_lwa_issued(linking: Linking) -> None:
    await linking.link()
    answer = await linking.partner_token()
    assert answer.status == 200
    assert linking.amazon.is_access_token_valid(answer.body["access_token"])


async def test_missing_bearer_is_401(linking: Linking) -> None:
    answer = await linking.reciprocal(None, code=linking.lwa_code())
    assert answer.status == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert answer.body["error"] == "invalid_token"
    assert await linking.link_doc() is None


async def test_invalid_bearer_is_401(linking: Linking) -> None:
    answer = await linking.reciprocal("not-a-token", code=linking.lwa_code())
    assert answer.status == 401
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]
    assert linking.amazon.exchange_count == 0


async def test_client_credentials_token_is_401(linking: Linking) -> None:
    """A token that acts for no user cannot say whose LWA tokens these are."""
    token = await client_credentials_token(linking.app, linking.backend_client)
    answer = await linking.reciprocal(token, code=linking.lwa_code())
    assert answer.status == 401
    assert answer.body["error"] == "invalid_token"


async def test_wrong_grant_type_is_unsupported_grant_type(linking: Linking) -> None:
    answer = await linking.reciprocal(
        await linking.user_token(), grant_type="authorization_code", code=linking.lwa_code()
    )
    assert (answer.status, answer.body["error"]) == (400, "unsupported_grant_type")


async def test_missing_grant_type_is_invalid_request(linking: Linking) -> None:
    answer = await linking.reciprocal(
        await linking.user_token(), grant_type="", code=linking.lwa_code()
    )
    assert (answer.status, answer.body["error"]) == (400, "invalid_request")


async def test_missing_code_is_invalid_request(linking: Linking) -> None:
    answer = await linking.reciprocal(await linking.user_token())
    assert (answer.status, answer.body["error"]) == (400, "invalid_request")
    assert "code" in answer.body["error_description"]


async def test_repeated_parameter_is_invalid_request(linking: Linking) -> None:
    answer = await call(
        "POST",
        f"{linking.base_url}/api/reciprocal/authorize",
        data=[
            ("grant_type", "reciprocal_authorization_code"),
            ("client_id", PARTNER_ID),
            ("code", "a"),
            ("code", "b"),
        ],
        headers=bearer(await linking.user_token()),
    )
    assert (answer.status, answer.body["error"]) == (400, "invalid_request")


async def test_json_body_is_invalid_request(linking: Linking) -> None:
    answer = await call(
        "POST",
        f"{linking.base_url}/api/reciprocal/authorize",
        json={
            "grant_type": "reciprocal_authorization_code",
            "client_id": PARTNER_ID,
            "code": linking.lwa_code(),
        },
        headers=bearer(await linking.user_token()),
    )
    assert (answer.status, answer.body["error"]) == (400, "invalid_request")


async def test_form_in_an_unknown_charset_is_invalid_request(linking: Linking) -> None:
    answer = await call(
        "POST",
        f"{linking.base_url}/api/reciprocal/authorize",
        data=f"grant_type=reciprocal_authorization_code&client_id={PARTNER_ID}&code=x".encode(),
        headers={
            **bearer(await linking.user_token()),
            "Content-Type": "application/x-www-form-urlencoded; charset=no-such",
        },
    )
    assert (answer.status, answer.body["error"]) == (400, "invalid_request")


async def test_unknown_partner_is_invalid_client(linking: Linking) -> None:
    answer = await linking.reciprocal(
        await linking.user_token(), client_id="no-such-partner", code=linking.lwa_code()
    )
    assert (answer.status, answer.body["error"]) == (400, "invalid_client")
    assert linking.amazon.exchange_count == 0


async def test_token_of_another_client_is_invalid_client(linking: Linking) -> None:
    """The partner id must be the client the bearer token was issued to (the sample never
    checked, so any client could plant tokens under any partner)."""
    other, _ = await create_client(linking.db, name="Another skill")
    token = await linking.user_token(client=other)
    answer = await linking.reciprocal(token, client_id=PARTNER_ID, code=linking.lwa_code())
    assert (answer.status, answer.body["error"]) == (400, "invalid_client")
    assert "issued to" in answer.body["error_description"]
    assert linking.amazon.exchange_count == 0
    assert await linking.link_doc() is None


async def test_lwa_refusal_is_invalid_grant_and_stores_nothing(linking: Linking) -> None:
    code = linking.lwa_code()
    token = await linking.user_token()
    assert (await linking.reciprocal(token, code=code)).status == 200
    await linking.db[partner_tokens.COLLECTION].delete_many({})
    answer = await linking.reciprocal(token, code=code)  # LWA codes are single use
    assert (answer.status, answer.body["error"]) == (400, "invalid_grant")
    assert "Login with Amazon refused" in answer.body["error_description"]
    assert await linking.link_doc() is None
    assert "link_failed" in await linking.audit_actions()


async def test_unknown_code_is_invalid_grant(linking: Linking) -> None:
    answer = await linking.reciprocal(await linking.user_token(), code="ANnot-a-code")
    assert (answer.status, answer.body["error"]) == (400, "invalid_grant")
    assert await linking.link_doc() is None


@pytest.mark.parametrize("mode", ["503", "close"])
async def test_lwa_down_stores_nothing_and_the_next_call_succeeds(
    linking: Linking, mode: LwaDownMode
) -> None:
    token = await linking.user_token()
    linking.amazon.set_lwa_down(mode=mode)
    answer = await linking.reciprocal(token, code=linking.lwa_code())
    assert answer.status == 503
    assert answer.body["error"] == "temporarily_unavailable"
    assert "could not be reached" in answer.body["error_description"]
    assert await linking.link_doc() is None
    linking.amazon.set_lwa_down(False)
    assert (await linking.reciprocal(token, code=linking.lwa_code())).status == 200
    assert (await linking.link_doc()) is not None


async def test_lwa_hanging_is_cut_off_by_the_timeout(linking: Linking) -> None:
    token = await linking.user_token()
    linking.amazon.set_lwa_down(mode="hang")
    started = time.monotonic()
    answer = await linking.reciprocal(token, code=linking.lwa_code())
    elapsed = time.monotonic() - started
    linking.amazon.set_lwa_down(False)
    assert answer.status == 503
    timeout = linking.app[SETTINGS].lwa_timeout  # 3 s by default: inside Alexa's 4.5 s
    assert timeout - 0.5 < elapsed < timeout + 1.0
    assert await linking.link_doc() is None


@pytest.mark.parametrize("expires_in", [10**30, 1e300, "9" * 40])
async def test_absurd_lwa_lifetime_is_capped_not_a_500(
    linking: Linking, expires_in: object
) -> None:
    """LWA's tokens live an hour; a lifetime that overflows a date is capped (refreshed sooner),
    never a server error while Alexa waits."""
    token = await linking.user_token()
    linking.amazon.queue_lwa_responses(
        200,
        {
            "access_token": "Atza|x",
            "refresh_token": "Atzr|y",
            "token_type": "bearer",
            "expires_in": expires_in,
        },
    )
    answer = await linking.reciprocal(token, code=linking.lwa_code())
    assert answer.status == 200, answer.body
    served = await linking.partner_token()
    assert served.status == 200
    assert 0 < served.body["expires_in"] <= 24 * 3600


async def test_relinking_replaces_the_token_set(linking: Linking) -> None:
    await linking.link()
    first = (await linking.partner_token()).body["access_token"]
    await linking.link()
    second = (await linking.partner_token()).body["access_token"]
    assert first != second
    docs = await linking.db[partner_tokens.COLLECTION].find({"user_id": USER_ID}).to_list(None)
    assert len(docs) == 1
    assert docs[0]["generation"] == 2


async def test_token_in_the_body_is_accepted(linking: Linking) -> None:
    """RFC 6750 §2.2 form parameter, as in the reciprocal OAuth draft."""
    answer = await linking.reciprocal(
        None, access_token=await linking.user_token(), code=linking.lwa_code()
    )
    assert answer.status == 200
    assert await linking.link_doc() is not None


async def test_token_in_header_and_body_is_refused(linking: Linking) -> None:
    token = await linking.user_token()
    answer = await linking.reciprocal(token, access_token=token, code=linking.lwa_code())
    assert (answer.status, answer.body["error"]) == (400, "invalid_request")
    assert await linking.link_doc() is None
