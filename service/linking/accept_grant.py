"""Smart-home ``Alexa.Authorization`` / ``AcceptGrant`` (docs/alexa-protocols.md §4.3).

The skill's Lambda forwards the directive; ``payload.grantee.token`` is the access token we
issued to Alexa for the user, and the partner is the client that token was issued to. The LWA
code is exchanged and stored exactly as for the reciprocal endpoint. The answer is the event
Alexa expects back: ``AcceptGrant.Response``, or ``ErrorResponse`` of type
``ACCEPT_GRANT_FAILED`` (a failure fails the whole link on Alexa's side, so say why).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from service.errors import ServiceError
from service.linking.deps import LinkingDeps
from service.linking.links import Caller, link_account
from service.oauth.access import authenticate_access_token
from service.oauth.errors import InvalidRequest, InvalidToken
from service.storage import partners

log = logging.getLogger(__name__)

NAMESPACE = "Alexa.Authorization"


@dataclass(frozen=True)
class AcceptGrant:
    code: str = field(repr=False)
    grantee_token: str = field(repr=False)
    message_id: str | None


def parse_directive(data: Any) -> AcceptGrant:
    """Read an AcceptGrant directive; InvalidRequest (→ plain 400) if it is not one."""
    directive = data.get("directive") if isinstance(data, dict) else None
    header = directive.get("header") if isinstance(directive, dict) else None
    if not isinstance(directive, dict) or not isinstance(header, dict):
        raise InvalidRequest('body must be an Alexa directive: {"directive": {"header": …}}')
    if header.get("namespace") != NAMESPACE or header.get("name") != "AcceptGrant":
        raise InvalidRequest("directive must be Alexa.Authorization AcceptGrant")
    payload = _member(directive, "payload")
    code = _member(payload, "grant").get("code")
    token = _member(payload, "grantee").get("token")
    message_id = header.get("messageId")
    return AcceptGrant(
        code=code if isinstance(code, str) else "",
        grantee_token=token if isinstance(token, str) else "",
        message_id=message_id if isinstance(message_id, str) else None,
    )


def _member(parent: dict[str, Any], name: str) -> dict[str, Any]:
    value = parent.get(name)
    return value if isinstance(value, dict) else {}


def _event(name: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "event": {
            "header": {
                "namespace": NAMESPACE,
                "name": name,
                "messageId": str(uuid.uuid4()),
                "payloadVersion": "3",
            },
            "payload": payload,
        }
    }


def success() -> dict[str, Any]:
    return _event("AcceptGrant.Response", {})


def failure(message: str) -> dict[str, Any]:
    return _event("ErrorResponse", {"type": "ACCEPT_GRANT_FAILED", "message": message})


async def accept_grant(deps: LinkingDeps, directive: AcceptGrant) -> dict[str, Any]:
    """Link, and answer with the event for Alexa."""
    if not directive.code:
        return failure("payload.grant.code is missing")
    if not directive.grantee_token:
        return failure("payload.grantee.token is missing")
    try:
        access = await authenticate_access_token(deps.db, deps.token_keys, directive.grantee_token)
    except InvalidToken:
        return failure("the grantee token is not a valid access token")
    if access.user_id is None:
        return failure("the grantee token does not belong to a user")
    caller = Caller.of(access)
    partner = await partners.get(deps.db, caller.client_id)
    if partner is None:
        log.warning("AcceptGrant for client %s, which is not a partner", caller.client_id)
        return failure("the skill's client is not configured as a partner")
    try:
        await link_account(deps, partner, caller, code=directive.code, via="accept_grant")
    except ServiceError as exc:
        return failure(exc.description)
    return success()
