"""POST /api/partner/profile-report: validated, sent to the link's Alexa host with the user's
LWA token, and Alexa's answers handled as docs/alexa-protocols.md R26 says."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest

from tests.support.identity import realm_users
from tests.support.linking import (
    PARTNER_ID,
    USER_ID,
    Linking,
    bearer,
    call,
    profile_report,
)
from tests.support.oauth import client_credentials_token, create_client

PROFILE = "/v1/health/profile"


async def test_report_is_delivered_with_the_users_token(linking: Linking) -> None:
    await linking.link()
    token = (await linking.partner_token()).body["access_token"]
    answer = await linking.profile_report()
    assert answer.status == 202
    assert answer.body == {
        "status": "accepted",
        "alexa_status": 202,
        "attempts": 1,
        "token_refreshed": False,
    }
    [received] = linking.amazon.requests
    assert received.path == PROFILE and received.method == "POST"
    assert received.headers["Authorization"] == f"Bearer {token}"  # title-case Bearer
    assert received.headers["Content-Type"] == "application/json"
    assert received.body == {"report": profile_report()}  # no event envelope (§4.1)


async def test_username_works_as_user_id(linking: Linking) -> None:
    with realm_users() as users:  # a username names a user in Keycloak
        user = users.create("name")
        await linking.link(user.id, user.username)
        assert (await linking.profile_report(user_id=user.username)).status == 202


def _broken(path: str, value: Any) -> dict[str, Any]:
    """The seed report with one field (dotted path, [i] for list items) replaced or removed."""
    report = copy.deepcopy(profile_report())
    node: Any = report
    parts = path.replace("[", ".").replace("]", "").split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last = parts[-1]
    key: Any = int(last) if last.isdigit() else last
    if value is _REMOVE:
        del node[key]
    else:
        node[key] = value
    return report


_REMOVE = object()


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("messageId", _REMOVE, "report.messageId"),
        ("messageId", "", "report.messageId"),
        ("profiles", [], "report.profiles"),
        ("profiles[0].profileId", 7, "report.profiles[0].profileId"),
        ("profiles[0].name", _REMOVE, "report.profiles[0].name"),
        ("profiles[0].name.firstName", "", "report.profiles[0].name.firstName"),
        ("profiles[0].name.lastName", _REMOVE, "report.profiles[0].name.lastName"),
        ("profiles[0].name.nickNames", [], "report.profiles[0].name.nickNames"),
        ("profiles[0].name.nickNames", "Mom", "report.profiles[0].name.nickNames"),
        ("profiles[0].capabilities", [], "report.profiles[0].capabilities"),
        (
            "profiles[0].capabilities[0].name",
            "Alexa.Health.Mood",
            "report.profiles[0].capabilities[0].name",
        ),
        (
            "profiles[0].capabilities[0].type",
            "Interface",
            "report.profiles[0].capabilities[0].type",
        ),
        (
            "profiles[0].capabilities[0].version",
            _REMOVE,
            "report.profiles[0].capabilities[0].version",
        ),
        (
            "profiles[0].capabilities[0].supportedOperations",
            ["Add", "Delete"],
            "report.profiles[0].capabilities[0].supportedOperations",
        ),
    ],
)
async def test_invalid_report_is_400_naming_the_field(
    linking: Linking, path: str, value: Any, field: str
) -> None:
    await linking.link()
    answer = await linking.profile_report(_broken(path, value))
    assert (answer.status, answer.body["error"]) == (400, "invalid_request")
    assert answer.body["field"] == field
    assert answer.body["error_description"].startswith(field)
    assert linking.amazon.requests == []


async def test_duplicate_profile_ids_are_400(linking: Linking) -> None:
    await linking.link()
    report = profile_report()
    report["profiles"] = report["profiles"] * 2
    answer = await linking.profile_report(report)
    assert (answer.status, answer.body["field"]) == (400, "report.profiles[1].profileId")


async def test_report_that_is_not_an_object_is_400(linking: Linking) -> None:
    await linking.link()
    answer = await linking.profile_report("not a report")
    assert (answer.status, answer.body["field"]) == (400, "report")


async def test_body_that_is_not_json_is_400(linking: Linking) -> None:
    answer = await call(
        "POST",
        f"{linking.base_url}/api/partner/profile-report",
        data="report=1",
        headers=bearer(linking.backend_token),
    )
    assert (answer.status, answer.body["error"]) == (400, "invalid_request")


async def test_client_without_permission_is_403(linking: Linking) -> None:
    await linking.link()
    other, _ = await create_client(linking.db, name="Other", grant_types=["client_credentials"])
    answer = await linking.profile_report(token=await client_credentials_token(linking.app, other))
    assert answer.status == 403
    assert linking.amazon.requests == []


async def test_401_refreshes_once_and_retries(linking: Linking) -> None:
    await linking.link()
    old = (await linking.partner_token()).body["access_token"]
    linking.amazon.expire_access_tokens()  # Amazon ended the token before our expiry time
    answer = await linking.profile_report()
    assert answer.status == 202
    assert answer.body["token_refreshed"] is True and answer.body["attempts"] == 2
    assert [r.status for r in linking.amazon.requests] == [401, 202]
    assert linking.amazon.requests[0].bearer_token == old
    assert linking.amazon.requests[1].bearer_token != old
    assert linking.amazon.refresh_count == 1
    # The refreshed token was stored.
    assert (await linking.partner_token()).body["access_token"] == linking.amazon.requests[
        1
    ].bearer_token


async def test_second_401_is_not_retried_again(linking: Linking) -> None:
    await linking.link()
    linking.amazon.queue_alexa_responses(401, count=2)
    answer = await linking.profile_report()
    assert (answer.status, answer.body["error"]) == (502, "alexa_rejected")
    assert answer.body["alexa_status"] == 401
    assert len(linking.amazon.requests) == 2
    assert linking.amazon.refresh_count == 1


async def test_403_marks_the_link_inactive_and_deletes_tokens(linking: Linking) -> None:
    await linking.link()
    linking.amazon.queue_alexa_responses(403)  # SKILL_DISABLED_EXCEPTION
    answer = await linking.profile_report()
    assert (answer.status, answer.body["error"]) == (409, "link_inactive")
    assert answer.body["alexa_status"] == 403
    assert answer.body["alexa_code"] == "SKILL_DISABLED_EXCEPTION"
    doc = await linking.link_doc()
    assert doc is not None and doc["status"] == "inactive"
    assert doc["access_token_enc"] is None and doc["refresh_token_enc"] is None
    assert "link_inactive" in await linking.audit_actions()
    # Later calls do not reach Alexa or LWA.
    assert (await linking.partner_token()).status == 409
    assert (await linking.profile_report()).status == 409
    assert len(linking.amazon.requests) == 1


async def test_429_honours_retry_after(linking: Linking) -> None:
    await linking.link()
    linking.amazon.queue_alexa_responses(429, headers={"Retry-After": "1"})
    started = time.monotonic()
    answer = await linking.profile_report()
    elapsed = time.monotonic() - started
    assert answer.status == 202 and answer.body["attempts"] == 2
    assert elapsed >= 1.0


async def test_retry_after_is_capped(linking: Linking) -> None:
    await linking.link()
    linking.amazon.queue_alexa_responses(429, headers={"Retry-After": "3600"})
    started = time.monotonic()
    answer = await linking.profile_report()
    assert answer.status == 202
    assert time.monotonic() - started < 3  # the test policy caps waits at 1.5 s


@pytest.mark.parametrize("status", [500, 503])
async def test_5xx_is_retried_then_succeeds(linking: Linking, status: int) -> None:
    await linking.link()
    linking.amazon.queue_alexa_responses(status, count=2)
    answer = await linking.profile_report()
    assert answer.status == 202 and answer.body["attempts"] == 3


async def test_5xx_retries_are_bounded(linking: Linking) -> None:
    await linking.link()
    linking.amazon.queue_alexa_responses(503, count=5)
    answer = await linking.profile_report()
    assert (answer.status, answer.body["error"]) == (502, "alexa_rejected")
    assert answer.body["alexa_status"] == 503
    assert answer.body["alexa_code"] == "SERVICE_UNAVAILABLE_EXCEPTION"
    assert answer.body["attempts"] == 3 and len(linking.amazon.requests) == 3


async def test_throttling_that_persists_is_429_with_retry_after(linking: Linking) -> None:
    await linking.link()
    linking.amazon.queue_alexa_responses(429, headers={"Retry-After": "0"}, count=3)
    answer = await linking.profile_report()
    assert (answer.status, answer.body["alexa_code"]) == (429, "THROTTLING_EXCEPTION")
    assert answer.headers["Retry-After"] == "0"


async def test_other_alexa_errors_are_passed_on(linking: Linking) -> None:
    await linking.link()
    linking.amazon.queue_alexa_responses(400)
    answer = await linking.profile_report()
    assert (answer.status, answer.body["error"]) == (400, "alexa_rejected")
    assert answer.body["alexa_code"] == "INVALID_REQUEST_EXCEPTION"
    assert len(linking.amazon.requests) == 1


async def test_report_goes_to_the_host_stored_with_the_link(linking: Linking) -> None:
    """The regional host is the one stored with the user's link (docs/alexa-protocols.md R26)."""
    await linking.link()
    await linking.db["partner_tokens"].update_one(
        {"user_id": USER_ID}, {"$set": {"alexa_api_base": "http://127.0.0.1:9"}}
    )
    answer = await linking.profile_report()
    assert (answer.status, answer.body["error"]) == (503, "alexa_unavailable")
    assert linking.amazon.requests == []


async def test_unknown_link_is_404(linking: Linking) -> None:
    answer = await linking.profile_report(user_id="nobody")
    assert (answer.status, answer.body["error"]) == (404, "link_not_found")


async def test_deeply_nested_body_is_400(linking: Linking) -> None:
    body = b"[" * 100_000 + b"]" * 100_000  # deeper than the JSON parser's recursion limit
    answer = await call(
        "POST",
        f"{linking.base_url}/api/partner/profile-report",
        data=body,
        headers={**bearer(linking.backend_token), "Content-Type": "application/json"},
    )
    assert (answer.status, answer.body["error"]) == (400, "invalid_request")


async def test_nan_is_not_json_and_never_reaches_alexa(linking: Linking) -> None:
    """Python's parser takes NaN; passed on in an extra field, Alexa would get invalid JSON."""
    await linking.link()
    body = json.dumps(
        {
            "user_id": USER_ID,
            "partner_id": PARTNER_ID,
            "report": {**profile_report(), "extra": float("nan")},
        }
    )
    assert "NaN" in body
    answer = await call(
        "POST",
        f"{linking.base_url}/api/partner/profile-report",
        data=body,
        headers={**bearer(linking.backend_token), "Content-Type": "application/json"},
    )
    assert (answer.status, answer.body["error"]) == (400, "invalid_request")
    assert linking.amazon.requests == []


async def test_alexa_redirect_is_not_passed_on(linking: Linking) -> None:
    """A 3xx from Alexa is not followed (it would carry the token elsewhere) and is no answer
    of ours either: a redirect without Location would confuse the app backend."""
    await linking.link()
    linking.amazon.queue_alexa_responses(302, headers={"Location": "http://127.0.0.1:9/x"})
    answer = await linking.profile_report()
    assert (answer.status, answer.body["error"]) == (502, "alexa_rejected")
    assert answer.body["alexa_status"] == 302
    assert len(linking.amazon.requests) == 1
