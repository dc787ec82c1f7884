"""HTTP handlers of the authorization server: parse, call `service.oauth`, render.

The JSON endpoints (token, revoke, introspect) are client-authenticated: no cookies, no CSRF
token. Their OAuth errors become responses in `oauth_json`; the authorize handlers turn them
into redirects back to the client. Those are the only two places.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from service.appkeys import DB, SETTINGS
from service.oauth import authorize, introspection, metadata, revocation, scopes
from service.oauth.clients import authenticate_client, read_credentials
from service.oauth.errors import NO_STORE, InvalidRequest, OAuthError
from service.oauth.models import OAuthClient
from service.oauth.params import single_valued
from service.oauth.token import handle_token_request
from service.web.errors import error_page
from service.web.pages import render
from service.web.redirects import redirect_off_site
from service.web.session import login_required, require_csrf

routes = web.RouteTableDef()

FORM = "application/x-www-form-urlencoded"
_CONSENT_BUTTONS = ("csrf_token", "approve", "deny")


async def read_form(request: web.Request) -> dict[str, str]:
    """The form body as single-valued parameters; anything malformed is `invalid_request`."""
    if request.content_type != FORM:
        raise InvalidRequest(f"The request body must be {FORM}.")
    try:
        form = await request.post()
    except (UnicodeDecodeError, ValueError, LookupError):  # LookupError: unknown charset
        raise InvalidRequest("The request body is not valid form data.") from None
    return single_valued(form.items())


async def oauth_json(
    request: web.Request, endpoint: Callable[[dict[str, str]], Awaitable[dict[str, Any]]]
) -> web.Response:
    try:
        body = await endpoint(await read_form(request))
    except OAuthError as exc:
        return exc.as_response()
    return web.json_response(body, headers=NO_STORE)


async def _client(request: web.Request, params: dict[str, str]) -> OAuthClient:
    credentials = read_credentials(request.headers.get("Authorization"), params)
    return await authenticate_client(request.app[DB], credentials)


@routes.post("/oauth/token", name="oauth_token")
async def token(request: web.Request) -> web.Response:
    async def endpoint(params: dict[str, str]) -> dict[str, Any]:
        answer = await handle_token_request(
            request.app[DB], request.headers.get("Authorization"), params
        )
        return answer.as_dict()

    return await oauth_json(request, endpoint)


@routes.post("/oauth/revoke", name="oauth_revoke")
async def revoke(request: web.Request) -> web.Response:
    async def endpoint(params: dict[str, str]) -> dict[str, Any]:
        await revocation.revoke(request.app[DB], await _client(request, params), params)
        return {}

    return await oauth_json(request, endpoint)


@routes.post("/oauth/introspect", name="oauth_introspect")
async def introspect(request: web.Request) -> web.Response:
    async def endpoint(params: dict[str, str]) -> dict[str, Any]:
        client = await _client(request, params)
        return await introspection.introspect(request.app[DB], client, params)

    return await oauth_json(request, endpoint)


@routes.get("/.well-known/oauth-authorization-server", name="oauth_metadata")
async def server_metadata(request: web.Request) -> web.Response:
    router = request.app.router
    paths = {
        name: str(router[f"oauth_{name}"].url_for())
        for name in ("authorize", "token", "revoke", "introspect")
    }
    return web.json_response(metadata.server_metadata(request.app[SETTINGS], paths))


async def _validated(
    request: web.Request, pairs: list[tuple[str, str]]
) -> authorize.AuthorizationRequest:
    try:
        return await authorize.validate(request.app[DB], pairs)
    except authorize.UntrustedRedirect as exc:
        raise error_page(request, 400, exc.message) from None
    except authorize.ClientRedirect as exc:
        raise redirect_off_site(exc.location) from None


@routes.get("/oauth/authorize", name="oauth_authorize")
async def authorize_page(request: web.Request) -> web.Response:
    auth = await _validated(request, list(request.query.items()))
    user = await login_required(request)  # comes back to this very URL after login
    db = request.app[DB]
    if await authorize.has_consent(db, auth, user):
        raise redirect_off_site(
            await authorize.approve(
                db, auth, user, code_ttl=request.app[SETTINGS].code_ttl, remember=False
            )
        )
    return await render(
        request,
        "oauth/consent.html",
        {
            "client": auth.client,
            "scopes": [(s, scopes.describe(s)) for s in sorted(auth.scopes)],
            "fields": auth.form_fields(),
        },
    )


@routes.post("/oauth/authorize")
async def authorize_decision(request: web.Request) -> web.Response:
    form = await require_csrf(request)
    user = await login_required(request)
    pairs = [(k, v) for k, v in form.items() if k not in _CONSENT_BUTTONS]
    auth = await _validated(request, pairs)
    if "approve" in form and "deny" not in form:
        location = await authorize.approve(
            request.app[DB], auth, user, code_ttl=request.app[SETTINGS].code_ttl
        )
    elif "deny" in form:
        location = authorize.deny(auth)
    else:
        raise error_page(request, 400, "Please choose Allow or Deny.")
    raise redirect_off_site(location)
