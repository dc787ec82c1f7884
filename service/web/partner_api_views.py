"""The app backend's API (docs/flows.md flows 4-5): the user's LWA access token, and profile
reports and smart-home events sent to Alexa on its behalf. Who may call it is the domain's
decision (`service.linking.backend_access`)."""

from __future__ import annotations

from aiohttp import web

from service.errors import NO_STORE
from service.linking import delivery, messages, tokens
from service.linking.backend_access import Backend, require_backend
from service.web.appkeys import DB, linking_deps
from service.web.bearer import require_bearer
from service.web.params import api_params, json_object, text_param


async def _backend(request: web.Request) -> Backend:
    return await require_backend(request.app[DB], await require_bearer(request))


async def partner_token(request: web.Request) -> web.Response:
    backend = await _backend(request)
    params = await api_params(request)
    user_ref, partner_id = text_param(params, "user_id"), text_param(params, "partner_id")
    actor = backend.for_partner(partner_id)
    deps = linking_deps(request.app)
    token = await tokens.access_token(deps, user_ref=user_ref, partner_id=partner_id, actor=actor)
    body: dict[str, object] = {
        "access_token": token.token,
        "token_type": "Bearer",
        "expires_in": token.expires_in(deps.clock()),
    }
    if not token.stored:  # refreshed at LWA, but our database did not keep it
        body["warning"] = tokens.NOT_STORED
    return web.json_response(body, headers=NO_STORE)


def _delivered(sent: delivery.Delivery) -> web.Response:
    return web.json_response(
        {
            "status": "accepted",
            "alexa_status": sent.status,
            "attempts": sent.attempts,
            "token_refreshed": sent.refreshed,
        },
        status=202,
        headers=NO_STORE,
    )


async def profile_report(request: web.Request) -> web.Response:
    backend = await _backend(request)
    data = await json_object(request)
    user_ref, partner_id = text_param(data, "user_id"), text_param(data, "partner_id")
    actor = backend.for_partner(partner_id)
    body = messages.validate_profile_report(data.get("report"))
    sent = await delivery.send(
        linking_deps(request.app),
        user_ref=user_ref,
        partner_id=partner_id,
        path=delivery.PROFILE_PATH,
        body=body,
        actor=actor,
    )
    return _delivered(sent)


async def events(request: web.Request) -> web.Response:
    backend = await _backend(request)
    data = await json_object(request)
    user_ref, partner_id = text_param(data, "user_id"), text_param(data, "partner_id")
    actor = backend.for_partner(partner_id)
    body = messages.validate_event(data.get("event"), data.get("context"))
    sent = await delivery.send(
        linking_deps(request.app),
        user_ref=user_ref,
        partner_id=partner_id,
        path=delivery.EVENTS_PATH,
        body=body,
        actor=actor,
        prepare=messages.with_scope_token,
    )
    return _delivered(sent)
