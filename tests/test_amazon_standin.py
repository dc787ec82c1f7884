"""The Amazon stand-in, driven through service.lwa: these double as the LWA client's tests.

No Keycloak or Mongo needed: everything runs against an in-process ``AmazonStandIn``.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import aiohttp
import pytest

from service.amazon.lwa import LwaError, LwaTokens, LwaUnavailable, exchange_code, refresh_tokens
from tests.amazon_standin import AmazonStandIn

CLIENT_ID = "amzn1.application-oa2-client.standintest"
CLIENT_SECRET = "standin-client-secret+/:="  # characters that break naive Basic handling
OTHER_ID = "amzn1.application-oa2-client.other"
OTHER_SECRET = "other-secret"
TIMEOUT = 3.0
SCRIPTED_ACCESS = "Atza|scripted"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
async def amazon() -> AsyncIterator[AmazonStandIn]:
    standin = AmazonStandIn(clients={CLIENT_ID: CLIENT_SECRET, OTHER_ID: OTHER_SECRET})
    await standin.start()
    yield standin
    await standin.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _exchange(
    http: aiohttp.ClientSession,
    amazon: AmazonStandIn,
    code: str,
    *,
    client_id: str = CLIENT_ID,
    client_secret: str = CLIENT_SECRET,
    timeout: float = TIMEOUT,
    redirect_uri: str | None = None,
) -> LwaTokens:
    return await exchange_code(
        http,
        token_url=amazon.lwa_token_url,
        client_id=client_id,
        client_secret=client_secret,
        code=code,
        timeout=timeout,
        redirect_uri=redirect_uri,
    )


async def _refresh(
    http: aiohttp.ClientSession,
    amazon: AmazonStandIn,
    refresh_token: str,
    *,
    client_id: str = CLIENT_ID,
    client_secret: str = CLIENT_SECRET,
) -> LwaTokens:
    return await refresh_tokens(
        http,
        token_url=amazon.lwa_token_url,
        client_id=client_id,
        client_secret=client_secret,
        refresh_token=refresh_token,
        timeout=TIMEOUT,
    )


async def _linked(http: aiohttp.ClientSession, amazon: AmazonStandIn) -> LwaTokens:
    return await _exchange(http, amazon, amazon.issue_code(CLIENT_ID))


async def _push(
    http: aiohttp.ClientSession,
    url: str,
    token: str | None,
    body: Any = None,
    *,
    scheme: str = "Bearer",
) -> tuple[int, dict[str, Any] | None, aiohttp.ClientResponse]:
    headers = {} if token is None else {"Authorization": f"{scheme} {token}"}
    payload = {"report": {"messageId": "m-1", "profiles": []}} if body is None else body
    async with http.post(url, json=payload, headers=headers) as resp:
        data = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, data, resp


async def _raw_token_post(
    http: aiohttp.ClientSession,
    amazon: AmazonStandIn,
    form: dict[str, str],
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], aiohttp.ClientResponse]:
    async with http.post(amazon.lwa_token_url, data=form, headers=headers or {}) as resp:
        return resp.status, await resp.json(), resp


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- authorization_code grant ---------------------------------------------------------------


async def test_code_exchange_returns_amazon_shaped_tokens(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    tokens = await _linked(http, amazon)
    assert tokens.access_token.startswith("Atza|")
    assert len(tokens.access_token) >= 350
    assert tokens.refresh_token is not None and tokens.refresh_token.startswith("Atzr|")
    assert tokens.expires_in == 3600
    assert tokens.token_type == "bearer"
    assert amazon.is_access_token_valid(tokens.access_token)
    assert amazon.exchange_count == 1
    call = amazon.lwa_calls[-1]
    assert (call.grant_type, call.client_id, call.client_auth, call.status) == (
        "authorization_code",
        CLIENT_ID,
        "body",
        200,
    )


async def test_token_response_is_json_and_not_cacheable(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    form = {
        "grant_type": "authorization_code",
        "code": amazon.issue_code(CLIENT_ID),
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    status, body, resp = await _raw_token_post(http, amazon, form)
    assert status == 200
    assert resp.headers["Cache-Control"] == "no-store"
    assert list(body) == ["access_token", "token_type", "expires_in", "refresh_token"]
    assert isinstance(body["expires_in"], int)


async def test_tokens_repr_hides_secrets(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    tokens = await _linked(http, amazon)
    assert tokens.access_token not in repr(tokens)
    assert tokens.refresh_token is not None and tokens.refresh_token not in repr(tokens)


async def test_code_is_single_use(http: aiohttp.ClientSession, amazon: AmazonStandIn) -> None:
    code = amazon.issue_code(CLIENT_ID)
    await _exchange(http, amazon, code)
    with pytest.raises(LwaError) as excinfo:
        await _exchange(http, amazon, code)
    assert (excinfo.value.error, excinfo.value.status) == ("invalid_grant", 400)
    assert "code" in excinfo.value.description


async def test_code_is_single_use_under_concurrency(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    code = amazon.issue_code(CLIENT_ID)
    results = await asyncio.gather(
        *(_exchange(http, amazon, code) for _ in range(5)), return_exceptions=True
    )
    assert sum(isinstance(r, LwaTokens) for r in results) == 1
    errors = [r for r in results if not isinstance(r, LwaTokens)]
    assert all(isinstance(r, LwaError) and r.error == "invalid_grant" for r in errors)


async def test_code_expires_after_five_minutes(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    fresh = amazon.issue_code(CLIENT_ID)
    stale = amazon.issue_code(CLIENT_ID)
    amazon.advance_time(299)
    await _exchange(http, amazon, fresh)
    amazon.advance_time(2)
    with pytest.raises(LwaError) as excinfo:
        await _exchange(http, amazon, stale)
    assert excinfo.value.error == "invalid_grant"


async def test_code_is_bound_to_its_client(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    code = amazon.issue_code(CLIENT_ID)
    with pytest.raises(LwaError) as excinfo:
        await _exchange(http, amazon, code, client_id=OTHER_ID, client_secret=OTHER_SECRET)
    assert excinfo.value.error == "invalid_grant"


async def test_code_is_bound_to_its_redirect_uri_when_issued_with_one(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    uri = "https://als.example/lwa/callback"
    with pytest.raises(LwaError) as excinfo:
        await _exchange(http, amazon, amazon.issue_code(CLIENT_ID, redirect_uri=uri))
    assert excinfo.value.error == "invalid_grant"
    await _exchange(http, amazon, amazon.issue_code(CLIENT_ID, redirect_uri=uri), redirect_uri=uri)


async def test_wrong_secret_is_invalid_client(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    with pytest.raises(LwaError) as excinfo:
        await _exchange(http, amazon, amazon.issue_code(CLIENT_ID), client_secret="wrong")
    assert (excinfo.value.error, excinfo.value.status) == ("invalid_client", 401)


async def test_unknown_client_is_invalid_client(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    with pytest.raises(LwaError) as excinfo:
        await _exchange(http, amazon, amazon.issue_code(CLIENT_ID), client_id="nobody")
    assert (excinfo.value.error, excinfo.value.status) == ("invalid_client", 401)


async def test_code_is_consumed_even_when_the_exchange_fails(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    code = amazon.issue_code(CLIENT_ID)
    with pytest.raises(LwaError):
        await _exchange(http, amazon, code, client_secret="wrong")
    with pytest.raises(LwaError) as excinfo:
        await _exchange(http, amazon, code)
    assert excinfo.value.error == "invalid_grant"


async def test_errors_carry_amazon_error_type_header(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    form = {
        "grant_type": "authorization_code",
        "code": "never-issued",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    status, body, resp = await _raw_token_post(http, amazon, form)
    assert status == 400
    assert body["error"] == "invalid_grant"
    assert body["error_description"] == "The request has an invalid grant parameter : code"
    assert resp.headers["x-amzn-errortype"] == "OA2InvalidGrantException"


async def test_basic_client_authentication_is_accepted(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    # RFC 6749 §2.3.1: form-urlencode each part, then base64.
    creds = f"{quote_plus(CLIENT_ID)}:{quote_plus(CLIENT_SECRET)}"
    basic = {"Authorization": "Basic " + base64.b64encode(creds.encode()).decode()}
    form = {"grant_type": "authorization_code", "code": amazon.issue_code(CLIENT_ID)}
    status, body, _ = await _raw_token_post(http, amazon, form, basic)
    assert status == 200, body
    assert "refresh_token" in body
    assert amazon.lwa_calls[-1].client_auth == "basic"

    bad = f"{quote_plus(CLIENT_ID)}:wrong"
    basic = {"Authorization": "Basic " + base64.b64encode(bad.encode()).decode()}
    form = {"grant_type": "authorization_code", "code": amazon.issue_code(CLIENT_ID)}
    status, body, resp = await _raw_token_post(http, amazon, form, basic)
    assert (status, body["error"]) == (401, "invalid_client")
    assert "WWW-Authenticate" in resp.headers


async def test_without_secret_no_refresh_token_is_issued(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    form = {
        "grant_type": "authorization_code",
        "code": amazon.issue_code(CLIENT_ID),
        "client_id": CLIENT_ID,
    }
    status, body, _ = await _raw_token_post(http, amazon, form)
    assert status == 200
    assert "refresh_token" not in body


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({}, "invalid_request"),
        ({"grant_type": "authorization_code", "client_id": CLIENT_ID}, "invalid_request"),
        ({"grant_type": "authorization_code", "code": "c"}, "invalid_request"),
        ({"grant_type": "refresh_token", "client_id": CLIENT_ID}, "invalid_request"),
        ({"grant_type": "password", "client_id": CLIENT_ID}, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
    ],
)
async def test_bad_requests_get_rfc6749_errors(
    http: aiohttp.ClientSession, amazon: AmazonStandIn, form: dict[str, str], error: str
) -> None:
    status, body, resp = await _raw_token_post(http, amazon, form)
    assert (status, body["error"]) == (400, error)
    assert body["error_description"]
    assert resp.headers["x-amzn-errortype"].startswith("OA2")


# -- refresh_token grant ------------------------------------------------------------------


async def test_refresh_keeps_refresh_token_by_default(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    linked = await _linked(http, amazon)
    assert linked.refresh_token is not None
    refreshed = await _refresh(http, amazon, linked.refresh_token)
    assert refreshed.access_token != linked.access_token
    assert refreshed.refresh_token == linked.refresh_token
    assert refreshed.expires_in == 3600
    assert amazon.is_access_token_valid(refreshed.access_token)
    assert amazon.refresh_count == 1


async def test_refresh_rotates_and_old_token_stays_valid(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    amazon.set_rotate_refresh_tokens(True)
    linked = await _linked(http, amazon)
    assert linked.refresh_token is not None
    first = await _refresh(http, amazon, linked.refresh_token)
    assert first.refresh_token is not None and first.refresh_token != linked.refresh_token
    again = await _refresh(http, amazon, linked.refresh_token)  # the old one still works
    assert again.refresh_token not in (None, linked.refresh_token, first.refresh_token)
    assert amazon.refresh_count == 2


async def test_rotation_can_revoke_the_previous_refresh_token(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    amazon.set_rotate_refresh_tokens(True, revoke_previous=True)
    linked = await _linked(http, amazon)
    assert linked.refresh_token is not None
    first = await _refresh(http, amazon, linked.refresh_token)
    assert first.refresh_token is not None
    with pytest.raises(LwaError) as excinfo:
        await _refresh(http, amazon, linked.refresh_token)
    assert excinfo.value.error == "invalid_grant"
    await _refresh(http, amazon, first.refresh_token)


async def test_refresh_without_secret_is_invalid_request(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    linked = await _linked(http, amazon)
    assert linked.refresh_token is not None
    with pytest.raises(LwaError) as excinfo:
        await _refresh(http, amazon, linked.refresh_token, client_secret="")
    assert (excinfo.value.error, excinfo.value.status) == ("invalid_request", 400)
    assert "client_secret" in excinfo.value.description
    assert excinfo.value.description.startswith("The request is missing")


async def test_refresh_with_wrong_secret_is_invalid_client(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    linked = await _linked(http, amazon)
    assert linked.refresh_token is not None
    with pytest.raises(LwaError) as excinfo:
        await _refresh(http, amazon, linked.refresh_token, client_secret="wrong")
    assert (excinfo.value.error, excinfo.value.status) == ("invalid_client", 401)


@pytest.mark.parametrize("how", ["unknown", "revoked", "revoke_all", "other_client"])
async def test_unusable_refresh_token_is_invalid_grant(
    http: aiohttp.ClientSession, amazon: AmazonStandIn, how: str
) -> None:
    linked = await _linked(http, amazon)
    assert linked.refresh_token is not None
    token, client_id, secret = linked.refresh_token, CLIENT_ID, CLIENT_SECRET
    if how == "unknown":
        token = "Atzr|never-issued"
    elif how == "revoked":
        amazon.revoke_refresh_token(token)
    elif how == "revoke_all":
        amazon.revoke_all()
    else:
        client_id, secret = OTHER_ID, OTHER_SECRET
    with pytest.raises(LwaError) as excinfo:
        await _refresh(http, amazon, token, client_id=client_id, client_secret=secret)
    assert (excinfo.value.error, excinfo.value.status) == ("invalid_grant", 400)


async def test_lwa_calls_record_no_secrets(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    linked = await _linked(http, amazon)
    assert linked.refresh_token is not None
    await _refresh(http, amazon, linked.refresh_token)
    recorded = repr(amazon.lwa_calls)
    for secret in (CLIENT_SECRET, linked.access_token, linked.refresh_token):
        assert secret not in recorded
    assert [c.grant_type for c in amazon.lwa_calls] == ["authorization_code", "refresh_token"]
    assert all(c.has_client_secret for c in amazon.lwa_calls)


# -- LWA client leniency and failure modes ---------------------------------------------------


async def test_expires_in_as_string_is_parsed(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    amazon.set_expires_in_as_string(True)
    amazon.set_access_token_lifetime(1800)
    tokens = await _linked(http, amazon)
    assert tokens.expires_in == 1800


@pytest.mark.parametrize(
    ("body", "expires_in", "refresh_token", "token_type"),
    [
        ({"access_token": SCRIPTED_ACCESS}, 3600, None, "bearer"),
        (
            {"access_token": SCRIPTED_ACCESS, "expires_in": "60", "token_type": "Bearer"},
            60,
            None,
            "Bearer",
        ),
        (
            {"access_token": SCRIPTED_ACCESS, "expires_in": 60.0, "refresh_token": "R"},
            60,
            "R",
            "bearer",
        ),
        ({"access_token": SCRIPTED_ACCESS, "refresh_token": ""}, 3600, None, "bearer"),
    ],
)
async def test_success_bodies_are_parsed_leniently(
    http: aiohttp.ClientSession,
    amazon: AmazonStandIn,
    body: dict[str, Any],
    expires_in: int,
    refresh_token: str | None,
    token_type: str,
) -> None:
    amazon.queue_lwa_responses(200, body)
    tokens = await _refresh(http, amazon, "Atzr|r")
    assert (tokens.access_token, tokens.expires_in) == (SCRIPTED_ACCESS, expires_in)
    assert (tokens.refresh_token, tokens.token_type) == (refresh_token, token_type)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, "<html>not json</html>"),
        (200, "[1, 2]"),
        (200, {"token_type": "bearer"}),
        (200, {"access_token": 42}),
        (200, {"access_token": SCRIPTED_ACCESS, "expires_in": "soon"}),
        (200, {"access_token": SCRIPTED_ACCESS, "expires_in": True}),
        (200, {"access_token": SCRIPTED_ACCESS, "expires_in": -5}),
        (200, {"access_token": SCRIPTED_ACCESS, "refresh_token": 7}),
        (500, {"error": "server_error"}),
        (502, "<html>Bad Gateway</html>"),
        (429, {"error": "slow_down"}),
        (400, "<html>Bad Request</html>"),
        (404, {"message": "not found"}),
        (302, None),
    ],
)
async def test_unusable_answers_are_unavailable_not_errors(
    http: aiohttp.ClientSession, amazon: AmazonStandIn, status: int, body: Any
) -> None:
    # LwaError would let a caller conclude "revoked" and delete tokens; these must not.
    headers = {"Location": "https://elsewhere.example/"} if status == 302 else None
    amazon.queue_lwa_responses(status, body, headers)
    with pytest.raises(LwaUnavailable):
        await _refresh(http, amazon, "Atzr|r")


async def test_error_without_description_is_still_an_lwa_error(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    amazon.queue_lwa_responses(400, {"error": "unauthorized_client"})
    with pytest.raises(LwaError) as excinfo:
        await _refresh(http, amazon, "Atzr|r")
    assert (excinfo.value.error, excinfo.value.description) == ("unauthorized_client", "")


async def test_lwa_down_503_is_unavailable(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    linked = await _linked(http, amazon)
    assert linked.refresh_token is not None
    amazon.set_lwa_down(True)
    with pytest.raises(LwaUnavailable, match="503"):
        await _refresh(http, amazon, linked.refresh_token)
    amazon.set_lwa_down(False)
    await _refresh(http, amazon, linked.refresh_token)


async def test_lwa_dropping_the_connection_is_unavailable(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    amazon.set_lwa_down(True, mode="close")
    with pytest.raises(LwaUnavailable):
        await _exchange(http, amazon, amazon.issue_code(CLIENT_ID))


async def test_lwa_hanging_hits_the_timeout(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    amazon.set_lwa_down(True, mode="hang")
    started = asyncio.get_running_loop().time()
    with pytest.raises(LwaUnavailable):
        await _exchange(http, amazon, amazon.issue_code(CLIENT_ID), timeout=0.3)
    assert asyncio.get_running_loop().time() - started < 2


async def test_connection_refused_is_unavailable(http: aiohttp.ClientSession) -> None:
    with pytest.raises(LwaUnavailable):
        await exchange_code(
            http,
            token_url=f"http://127.0.0.1:{_unused_port()}/auth/o2/token",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            code="c",
            timeout=TIMEOUT,
        )


# -- Alexa APIs -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/health/profile", "/v3/events"])
async def test_alexa_api_accepts_a_live_access_token(
    http: aiohttp.ClientSession, amazon: AmazonStandIn, path: str
) -> None:
    tokens = await _linked(http, amazon)
    body = {"report": {"messageId": "m-42", "profiles": []}}
    status, _, _ = await _push(http, amazon.base_url + path, tokens.access_token, body)
    assert status == 202
    [received] = amazon.requests
    assert (received.method, received.path, received.status) == ("POST", path, 202)
    assert received.body == body
    assert received.bearer_token == tokens.access_token
    assert received.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("token", [None, "", "Atza|never-issued"])
async def test_alexa_api_rejects_missing_or_unknown_tokens(
    http: aiohttp.ClientSession, amazon: AmazonStandIn, token: str | None
) -> None:
    status, body, _ = await _push(http, amazon.health_profile_url, token)
    assert status == 401
    assert body is not None and body["payload"]["code"] == "INVALID_ACCESS_TOKEN_EXCEPTION"
    assert body["payload"]["description"]
    assert amazon.requests[-1].status == 401


async def test_alexa_api_rejects_expired_tokens_and_accepts_refreshed_ones(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    tokens = await _linked(http, amazon)
    assert tokens.refresh_token is not None
    amazon.expire_access_tokens()
    status, body, _ = await _push(http, amazon.events_url, tokens.access_token)
    assert status == 401
    assert body is not None and body["payload"]["code"] == "INVALID_ACCESS_TOKEN_EXCEPTION"
    refreshed = await _refresh(http, amazon, tokens.refresh_token)
    status, _, _ = await _push(http, amazon.events_url, refreshed.access_token)
    assert status == 202


async def test_access_tokens_live_for_their_lifetime(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    amazon.set_access_token_lifetime(60)
    tokens = await _linked(http, amazon)
    assert tokens.expires_in == 60
    amazon.advance_time(59)
    assert (await _push(http, amazon.events_url, tokens.access_token))[0] == 202
    amazon.advance_time(2)
    assert (await _push(http, amazon.events_url, tokens.access_token))[0] == 401


async def test_revoke_all_kills_access_tokens_too(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    tokens = await _linked(http, amazon)
    amazon.revoke_all()
    assert (await _push(http, amazon.events_url, tokens.access_token))[0] == 401


async def test_lower_case_bearer_scheme_is_a_bad_request(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    tokens = await _linked(http, amazon)
    status, body, _ = await _push(http, amazon.events_url, tokens.access_token, scheme="bearer")
    assert status == 400
    assert body is not None and body["payload"]["code"] == "INVALID_REQUEST_EXCEPTION"


async def test_non_json_body_is_a_bad_request(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    tokens = await _linked(http, amazon)
    headers = {"Authorization": f"Bearer {tokens.access_token}"}
    async with http.post(amazon.events_url, data="not json", headers=headers) as resp:
        assert resp.status == 400
        assert (await resp.json())["payload"]["code"] == "INVALID_REQUEST_EXCEPTION"
    assert amazon.requests[-1].text == "not json"


async def test_queued_403_answers_next_call_then_normal_service_resumes(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    tokens = await _linked(http, amazon)
    amazon.queue_alexa_responses(403)
    status, body, _ = await _push(http, amazon.health_profile_url, tokens.access_token)
    assert status == 403
    assert body is not None and body["payload"]["code"] == "SKILL_DISABLED_EXCEPTION"
    assert (await _push(http, amazon.health_profile_url, tokens.access_token))[0] == 202


async def test_queued_429_carries_retry_after_for_count_calls(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    tokens = await _linked(http, amazon)
    amazon.queue_alexa_responses(429, headers={"Retry-After": "1"}, count=2)
    for _ in range(2):
        status, body, resp = await _push(http, amazon.events_url, tokens.access_token)
        assert status == 429
        assert resp.headers["Retry-After"] == "1"
        assert body is not None and body["payload"]["code"] == "THROTTLING_EXCEPTION"
    assert (await _push(http, amazon.events_url, tokens.access_token))[0] == 202
    assert [r.status for r in amazon.requests] == [429, 429, 202]


async def test_queue_is_not_consumed_by_unauthenticated_calls(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    tokens = await _linked(http, amazon)
    amazon.queue_alexa_responses(500)
    assert (await _push(http, amazon.events_url, "Atza|bogus"))[0] == 401
    assert (await _push(http, amazon.events_url, tokens.access_token))[0] == 500
    assert (await _push(http, amazon.events_url, tokens.access_token))[0] == 202


async def test_queue_can_target_a_path_and_an_error_code(
    http: aiohttp.ClientSession, amazon: AmazonStandIn
) -> None:
    tokens = await _linked(http, amazon)
    amazon.queue_alexa_responses(
        403, code="INSUFFICIENT_PERMISSION_EXCEPTION", path="/v1/health/profile"
    )
    assert (await _push(http, amazon.events_url, tokens.access_token))[0] == 202
    status, body, _ = await _push(http, amazon.health_profile_url, tokens.access_token)
    assert status == 403
    assert body is not None and body["payload"]["code"] == "INSUFFICIENT_PERMISSION_EXCEPTION"


# -- HTTP control API and command line --------------------------------------------------------


async def test_http_control_api(http: aiohttp.ClientSession, amazon: AmazonStandIn) -> None:
    ctl = f"{amazon.base_url}/_standin"
    async with http.post(f"{ctl}/clients", json={"client_id": "c3", "secret": "s3"}) as resp:
        assert resp.status == 204
    async with http.post(f"{ctl}/codes", json={"client_id": "c3"}) as resp:
        assert resp.status == 201
        code = (await resp.json())["code"]
    tokens = await _exchange(http, amazon, code, client_id="c3", client_secret="s3")

    async with http.post(f"{ctl}/alexa-responses", json={"status": 503, "count": 1}) as resp:
        assert resp.status == 204
    assert (await _push(http, amazon.events_url, tokens.access_token))[0] == 503

    async with http.get(f"{ctl}/requests") as resp:
        [received] = (await resp.json())["requests"]
    assert (received["path"], received["status"]) == ("/v3/events", 503)
    assert received["body"]["report"]["messageId"] == "m-1"

    async with http.get(f"{ctl}/lwa-calls") as resp:
        calls = await resp.json()
    assert calls["exchange_count"] == 1
    assert "s3" not in str(calls)

    async with http.post(f"{ctl}/expire-access-tokens") as resp:
        assert resp.status == 204
    assert (await _push(http, amazon.events_url, tokens.access_token))[0] == 401

    async with http.post(f"{ctl}/lwa", json={"down": True}) as resp:
        assert resp.status == 204
    with pytest.raises(LwaUnavailable):
        await _exchange(http, amazon, amazon.issue_code("c3"), client_id="c3", client_secret="s3")
    async with http.post(f"{ctl}/lwa", json={"down": True, "mode": "sideways"}) as resp:
        assert resp.status == 400
    async with http.post(f"{ctl}/codes", json={"client_id": "nobody"}) as resp:
        assert resp.status == 400
    async with http.post(f"{ctl}/alexa-responses", json={"count": 2}) as resp:
        assert resp.status == 400


async def test_command_line_server(http: aiohttp.ClientSession) -> None:
    args = ["--port", "0", "--client", f"{CLIENT_ID}:secret", "--access-token-lifetime", "120"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.amazon_standin",
        *args,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        first = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        base_url = first.rsplit(" ", 1)[-1].strip()
        assert base_url.startswith("http://127.0.0.1:"), first
        async with http.post(f"{base_url}/_standin/codes", json={"client_id": CLIENT_ID}) as resp:
            code = (await resp.json())["code"]
        tokens = await exchange_code(
            http,
            token_url=f"{base_url}/auth/o2/token",
            client_id=CLIENT_ID,
            client_secret="secret",
            code=code,
            timeout=TIMEOUT,
        )
        assert tokens.expires_in == 120
    finally:
        proc.terminate()
        await proc.wait()
