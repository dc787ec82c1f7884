"""The app backend's API (design.md flows 4-5): the user's LWA access token, and profile
reports and smart-home events sent to Alexa on its behalf.

Callers authenticate with an access token from our client_credentials grant, issued to a
client holding the `partner_token` permission; the token acts for that client, not a user.
"""

from __future__ import annotations

from aiohttp import web

from service.appkeys import DB
from service.linking import alexa, messages, tokens
from service.linking.errors import InsufficientPermission
from service.oauth.bearer import AccessContext, require_bearer
from service.storage import clients
from service.web.linking_http import (
    NO_STORE,
    api_params,
    json_errors,
    json_object,
    linking_deps,
    text_param,
)

routes = web.RouteTableDef()

PERMISSION = "partner_token"


async def require_partner_client(request: web.Request) -> AccessContext:
    access = await require_bearer(request)
    if access.user_id is not None:
        # A token acting for one user must not read other users' Amazon tokens.
        raise InsufficientPermission("this API needs a client_credentials access token")
    client = await clients.get(request.app[DB], access.client_id)
    if client is None or PERMISSION not in client.permissions:
        raise InsufficientPermission(f"the client lacks the {PERMISSION} permission")
    return access


@routes.route("GET", "/api/partner/token", name="partner_token")
@routes.route("POST", "/api/partner/token")
@json_errors
async def partner_token(request: web.Request) -> web.Response:
    access = await require_partner_client(request)
    params = await api_params(request)
    deps = linking_deps(request.app)
    token = await tokens.access_token(
        deps,
        user_ref=text_param(params, "user_id"),
        partner_id=text_param(params, "partner_id"),
        actor=f"client:{access.client_id}",
    )
    return web.json_response(
        {
            "access_token": token.token,
            "token_type": "Bearer",
            "expires_in": token.expires_in(deps.clock()),
        },
        headers=NO_STORE,
    )


def _delivered(delivery: alexa.Delivery) -> web.Response:
    return web.json_response(
        {
            "status": "accepted",
            "alexa_status": delivery.status,
            "attempts": delivery.attempts,
            "token_refreshed": delivery.refreshed,
        },
        status=202,
        headers=NO_STORE,
    )


@routes.post("/api/partner/profile-report", name="partner_profile_report")
@json_errors
async def profile_report(request: web.Request) -> web.Response:
    access = await require_partner_client(request)
    data = await json_object(request)
    user_ref, partner_id = text_param(data, "user_id"), text_param(data, "partner_id")
    body = messages.validate_profile_report(data.get("report"))
    delivery = await alexa.send(
        linking_deps(request.app),
        user_ref=user_ref,
        partner_id=partner_id,
        path=alexa.PROFILE_PATH,
        body=body,
        actor=f"client:{access.client_id}",
    )
    return _delivered(delivery)


@routes.post("/api/partner/events", name="partner_events")
@json_errors
async def events(request: web.Request) -> web.Response:
    access = await require_partner_client(request)
    data = await json_object(request)
    user_ref, partner_id = text_param(data, "user_id"), text_param(data, "partner_id")
    body = messages.validate_event(data.get("event"), data.get("context"))
    delivery = await alexa.send(
        linking_deps(request.app),
        user_ref=user_ref,
        partner_id=partner_id,
        path=alexa.EVENTS_PATH,
        body=body,
        actor=f"client:{access.client_id}",
        prepare=messages.with_scope_token,
    )
    return _delivered(delivery)
