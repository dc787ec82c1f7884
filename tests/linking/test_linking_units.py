"""The linking domain's pure parts, with plain values: refresh timing, retry waits, message
shapes and the AcceptGrant directive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.amazon.retry import RetryPolicy, retry_after
from service.linking.accept_grant import failure, parse_directive, success
from service.linking.messages import validate_event, with_scope_token
from service.linking.tokens import refresh_at_for
from service.oauth.errors import InvalidRequest

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expires_in", "served_for"),
    [
        (3600, 3300),  # LWA's hour: refreshed 5 minutes before expiry
        (600, 300),
        (60, 30),  # too short for the margin: half way
        (0, 0),
    ],
)
def test_refresh_point(expires_in: int, served_for: int) -> None:
    assert refresh_at_for(NOW, expires_in) == NOW + timedelta(seconds=served_for)


def test_retry_policy_backs_off_and_caps() -> None:
    policy = RetryPolicy(attempts=3, base_delay=0.5, max_delay=5.0)
    assert [policy.delay(n, None) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 5.0]
    assert policy.delay(0, 2.0) == 2.0
    assert policy.delay(0, 3600.0) == 5.0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        ("Thu, 01 Jan 2026 12:00:30 GMT", 30.0),
        ("Thu, 01 Jan 2026 11:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
    ],
)
def test_retry_after_header(header: str, seconds: float | None) -> None:
    assert retry_after({"Retry-After": header} if header else {}, NOW) == seconds


def test_event_scope_token_is_filled_in_without_touching_the_input() -> None:
    event = {
        "header": {
            "namespace": "Alexa",
            "name": "ChangeReport",
            "messageId": "1",
            "payloadVersion": "3",
        },
        "endpoint": {"endpointId": "e"},
    }
    body = validate_event(event, {"properties": []})
    sent = with_scope_token(body, "Atza|t")
    assert sent["event"]["endpoint"]["scope"] == {"type": "BearerToken", "token": "Atza|t"}
    assert sent["context"] == {"properties": []}
    assert "scope" not in event["endpoint"]


def test_event_context_must_be_an_object() -> None:
    event = {"header": {"namespace": "A", "name": "B", "messageId": "1", "payloadVersion": "3"}}
    with pytest.raises(InvalidRequest, match="context"):
        validate_event(event, [1])


def test_accept_grant_directive_is_parsed() -> None:
    parsed = parse_directive(
        {
            "directive": {
                "header": {
                    "namespace": "Alexa.Authorization",
                    "name": "AcceptGrant",
                    "messageId": "m",
                },
                "payload": {"grant": {"code": "ANcode-1"}, "grantee": {"token": "tok-2"}},
            }
        }
    )
    assert (parsed.code, parsed.grantee_token, parsed.message_id) == ("ANcode-1", "tok-2", "m")
    assert "ANcode-1" not in repr(parsed) and "tok-2" not in repr(parsed)


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"directive": {}},
        {"directive": {"header": {"namespace": "Alexa", "name": "AcceptGrant"}}},
    ],
)
def test_non_accept_grant_bodies_are_refused(body: object) -> None:
    with pytest.raises(InvalidRequest):
        parse_directive(body)


def test_response_events() -> None:
    assert success()["event"]["header"]["name"] == "AcceptGrant.Response"
    error = failure("why")["event"]
    assert error["header"]["name"] == "ErrorResponse"
    assert error["payload"] == {"type": "ACCEPT_GRANT_FAILED", "message": "why"}
