"""Alexa-facing linking endpoints: the reciprocal authorization endpoint
(docs/alexa-protocols.md §2.2) and the smart-home AcceptGrant directive forwarded by the skill's
Lambda (§4.3)."""

from __future__ import annotations

from aiohttp import web

from service.errors import NO_STORE, ServiceError
from service.linking.accept_grant import accept_grant, parse_directive
from service.linking.links import Caller, reciprocal_authorize
from service.oauth.access import user_of_access_token
from service.oauth.errors import InvalidRequest, InvalidToken
from service.web.appkeys import DB, TOKEN_KEYS, linking_deps
from service.web.bearer import NO_TOKEN, bearer_token
from service.web.params import form_params, json_object


async def reciprocal(request: web.Request) -> web.Response:
    """Alexa hands us an LWA code for the user our Bearer token was issued for."""
    header_token = bearer_token(request.headers.get("Authorization"))
    params: dict[str, str] = {}
    bad_form: ServiceError | None = None
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
        raise InvalidToken(NO_TOKEN, token_sent=False)
    caller = Caller.of(await user_of_access_token(request.app[DB], request.app[TOKEN_KEYS], token))
    if bad_form is not None:
        raise bad_form
    await reciprocal_authorize(
        linking_deps(request.app),
        caller,
        grant_type=params.get("grant_type"),
        client_id=params.get("client_id"),
        code=params.get("code"),
    )
    return web.json_response({"status": "linked"}, headers=NO_STORE)


async def accept_grant_directive(request: web.Request) -> web.Response:
    """The skill backend forwards the AcceptGrant directive; we answer with the event for Alexa
    (200 in both cases: the body says whether the grant was accepted)."""
    directive = parse_directive(await json_object(request))
    answer = await accept_grant(linking_deps(request.app), directive)
    return web.json_response(answer, headers=NO_STORE)
