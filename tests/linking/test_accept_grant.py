"""POST /alexa/accept-grant: the smart-home Alexa.Authorization AcceptGrant directive
(docs/alexa-protocols.md §4.3), linked with the same LWA machinery as the reciprocal endpoint."""

from __future__ import annotations

from typing import Any

from tests.support.linking import USER_ID, Answer, Linking, call
from tests.support.oauth import create_client


def directive(code: str | None, token: str | None, **header: str) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    if code is not None:
        payload["grant"] = {"type": "OAuth2.AuthorizationCode", "code": code}
    if token is not None:
        payload["grantee"] = {"type": "BearerToken", "token": token}
    return {
        "directive": {
            "header": {
                "namespace": "Alexa.Authorization",
                "name": "AcceptGrant",
                "messageId": "msg-1",
                "payloadVersion": "3",
                **header,
            },
            "payload": payload,
        }
    }


async def send(linking: Linking, body: Any) -> Answer:
    return await call("POST", f"{linking.base_url}/alexa/accept-grant", json=body)


def assert_failed(answer: Answer, message_part: str) -> None:
    assert answer.status == 200
    event = answer.body["event"]
    assert event["header"]["namespace"] == "Alexa.Authorization"
    assert event["header"]["name"] == "ErrorResponse"
    assert event["header"]["payloadVersion"] == "3"
    assert event["payload"]["type"] == "ACCEPT_GRANT_FAILED"
    assert message_part in event["payload"]["message"]


async def test_accept_grant_links_and_answers_the_response_event(linking: Linking) -> None:
    answer = await send(linking, directive(linking.lwa_code(), await linking.user_token()))
    assert answer.status == 200
    event = answer.body["event"]
    assert event["header"]["name"] == "AcceptGrant.Response"
    assert event["header"]["namespace"] == "Alexa.Authorization"
    assert event["header"]["payloadVersion"] == "3" and event["header"]["messageId"]
    assert event["payload"] == {}
    doc = await linking.link_doc()
    assert doc is not None and doc["status"] == "active"
    assert (await linking.partner_token()).status == 200
    rows = await linking.db["audit"].find({"user_id": USER_ID, "action": "link"}).to_list(None)
    assert rows[0]["details"]["via"] == "accept_grant"


async def test_invalid_grantee_token_fails(linking: Linking) -> None:
    answer = await send(linking, directive(linking.lwa_code(), "not-our-token"))
    assert_failed(answer, "not a valid access token")
    assert linking.amazon.exchange_count == 0


async def test_missing_code_fails(linking: Linking) -> None:
    assert_failed(await send(linking, directive(None, await linking.user_token())), "grant.code")


async def test_missing_grantee_fails(linking: Linking) -> None:
    assert_failed(await send(linking, directive(linking.lwa_code(), None)), "grantee.token")


async def test_lwa_refusal_fails_and_stores_nothing(linking: Linking) -> None:
    answer = await send(linking, directive("ANbogus", await linking.user_token()))
    assert_failed(answer, "Login with Amazon refused the code")
    assert await linking.link_doc() is None


async def test_lwa_down_fails_and_stores_nothing(linking: Linking) -> None:
    linking.amazon.set_lwa_down()
    answer = await send(linking, directive(linking.lwa_code(), await linking.user_token()))
    assert_failed(answer, "could not be reached")
    assert await linking.link_doc() is None


async def test_client_that_is_not_a_partner_fails(linking: Linking) -> None:
    other, _ = await create_client(linking.db, name="Not a partner")
    token = await linking.user_token(client=other)
    assert_failed(await send(linking, directive(linking.lwa_code(), token)), "not configured")


async def test_other_directive_is_400(linking: Linking) -> None:
    body = directive("x", "y", name="Discover")
    answer = await send(linking, body)
    assert (answer.status, answer.body["error"]) == (400, "invalid_request")


async def test_non_json_is_400(linking: Linking) -> None:
    answer = await call("POST", f"{linking.base_url}/alexa/accept-grant", data="nope")
    assert (answer.status, answer.body["error"]) == (400, "invalid_request")
