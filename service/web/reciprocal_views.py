"""Alexa-facing linking endpoints: the reciprocal authorization endpoint (alexa-protocols.md
§2.2) and the smart-home AcceptGrant directive forwarded by the skill's Lambda (§4.3)."""

from __future__ import annotations

import logging

from aiohttp import web

from service.appkeys import DB
from service.linking import hooks  # noqa: F401 - registers the unlink hook in every process
from service.linking.accept_grant import Grantee, accept_grant, parse_directive
from service.linking.errors import InvalidRequest, InvalidToken
from service.linking.links import Caller, reciprocal_authorize
from service.oauth.bearer import InvalidToken as InvalidAccessToken
from service.oauth.bearer import authenticate_access_token, bearer_token, unauthorized
from service.web.linking_http import (
    NO_STORE,
    form_params,
    json_errors,
    json_object,
    linking_deps,
)

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


@routes.post("/api/reciprocal/authorize", name="reciprocal_authorize")
@json_errors
async def reciprocal(request: web.Request) -> web.Response:
    """Alexa hands us an LWA code for the user our Bearer token was issued for."""
    header_token = bearer_token(request.headers.get("Authorization"))
    params: dict[str, str] = {}
    bad_form: InvalidRequest | None = None
    if request.can_read_body:
        try:
            params = await form_params(request)
        except InvalidRequest as exc:
            bad_form = exc  # reported after authentication: 401 comes first
    # RFC 6750 §2.2 allows the token as a form field (the reciprocal OAuth draft sends it
    # there); never both ways at once (§2: "MUST NOT use more than one method").
    body_token = params.pop("access_token", None)
    if header_token and body_token:
        raise InvalidRequest(
            "send the access token in the Authorization header or the body, not both"
        )
    token = header_token or body_token
    if token is None:
        raise unauthorized("A Bearer access token is required.", error=False)
    try:
        access = await authenticate_access_token(request.app[DB], token)
    except InvalidAccessToken as exc:
        raise unauthorized(str(exc)) from None
    if access.user_id is None:
        raise InvalidToken("the access token does not belong to a user")
    if bad_form is not None:
        raise bad_form
    await reciprocal_authorize(
        linking_deps(request.app),
        Caller(
            access.user_id, access.username, access.client_id, access.issued_at, access.grant_id
        ),
        grant_type=params.get("grant_type"),
        client_id=params.get("client_id"),
        code=params.get("code"),
    )
    return web.json_response({"status": "linked"}, headers=NO_STORE)


@routes.post("/alexa/accept-grant", name="alexa_accept_grant")
@json_errors
async def accept_grant_directive(request: web.Request) -> web.Response:
    """The skill backend forwards the AcceptGrant directive; we answer with the event for Alexa
    (200 in both cases: the body says whether the grant was accepted)."""
    directive = parse_directive(await json_object(request))
    db = request.app[DB]

    async def authenticate(token: str) -> Grantee | None:
        try:
            access = await authenticate_access_token(db, token)
        except InvalidAccessToken:
            return None
        return Grantee(
            access.user_id, access.username, access.client_id, access.issued_at, access.grant_id
        )

    answer = await accept_grant(linking_deps(request.app), directive, authenticate)
    return web.json_response(answer, headers=NO_STORE)
