"""POST /api/partner/events: smart-home events to the Event Gateway (/v3/events) by the same
sender as profile reports (docs/alexa-protocols.md §4.2)."""

from __future__ import annotations

from typing import Any

from tests.support.linking import Linking


def change_report(**endpoint: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "header": {
            "namespace": "Alexa",
            "name": "ChangeReport",
            "messageId": "abc-123",
            "payloadVersion": "3",
        },
        "payload": {"change": {"cause": {"type": "PHYSICAL_INTERACTION"}, "properties": []}},
    }
    if endpoint:
        event["endpoint"] = endpoint
    return event


async def test_event_is_sent_with_the_token_in_header_and_scope(linking: Linking) -> None:
    await linking.link()
    token = (await linking.partner_token()).body["access_token"]
    answer = await linking.event(change_report(endpointId="lamp-1", scope={"type": "x"}))
    assert answer.status == 202
    [received] = linking.amazon.requests
    assert received.path == "/v3/events"
    assert received.bearer_token == token
    assert received.body["event"]["header"]["name"] == "ChangeReport"
    assert received.body["event"]["endpoint"] == {
        "endpointId": "lamp-1",
        "scope": {"type": "BearerToken", "token": token},
    }


async def test_event_without_endpoint_is_sent_as_is(linking: Linking) -> None:
    await linking.link()
    assert (await linking.event(change_report())).status == 202
    assert linking.amazon.requests[0].body == {"event": change_report()}


async def test_event_401_refreshes_and_puts_the_new_token_in_scope(linking: Linking) -> None:
    await linking.link()
    linking.amazon.expire_access_tokens()
    answer = await linking.event(change_report(endpointId="lamp-1"))
    assert answer.status == 202
    first, second = linking.amazon.requests
    assert first.status == 401 and second.status == 202
    assert second.body["event"]["endpoint"]["scope"]["token"] == second.bearer_token
    assert second.bearer_token != first.bearer_token


async def test_event_without_header_name_is_400(linking: Linking) -> None:
    await linking.link()
    event = change_report()
    del event["header"]["name"]
    answer = await linking.event(event)
    assert (answer.status, answer.body["field"]) == (400, "event.header.name")
    assert linking.amazon.requests == []


async def test_event_403_marks_the_link_inactive(linking: Linking) -> None:
    await linking.link()
    linking.amazon.queue_alexa_responses(403, code="INSUFFICIENT_PERMISSION_EXCEPTION")
    answer = await linking.event(change_report())
    assert (answer.status, answer.body["alexa_code"]) == (409, "INSUFFICIENT_PERMISSION_EXCEPTION")
    doc = await linking.link_doc()
    assert doc is not None and doc["status"] == "inactive"
