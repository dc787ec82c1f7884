"""HTTP handlers of the authorization server: parse, call `service.oauth`, render.

The JSON endpoints (token, revoke, introspect) are client-authenticated: no cookies, no CSRF
token. Their OAuth errors are rendered by the error middleware; the authorize handlers send
theirs back to the client as redirects (RFC 6749 §4.1.2.1).
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import pymongo
from aiohttp import web

from service import metrics_registry
from service.errors import NO_STORE, BadRequest, ServiceError
from service.models.oauth import ClientCredentials, OAuthClient
from service.oauth import authorize, introspection, metadata, revocation, scopes
from service.oauth.clients import authenticate_client
from service.oauth.errors import LoginRequired
from service.oauth.token import handle_token_request
from service.web.appkeys import CLIENTS, DB, RATE_LIMITS, SETTINGS, oauth_deps
from service.web.client_auth import read_credentials
from service.web.pages import render
from service.web.params import form_params
from service.web.redirects import redirect_off_site
from service.web.security import allow_form_targets
from service.web.session import current_user, login_required, require_csrf

_CONSENT_BUTTONS = ("csrf_token", "approve", "deny")
# The database work of one token request, all operations together: Alexa gives up after 4.5 s
# (docs/alexa-protocols.md §1), so a stalled database must give it a 503 before that.
TOKEN_DB_DEADLINE = 3.0


def _no_store(body: dict[str, object]) -> web.Response:
    return web.json_response(body, headers=NO_STORE)


def _limited(request: web.Request, credentials: ClientCredentials) -> AbstractContextManager[None]:
    """Failed client authentications are limited per client id and source address (429)."""
    return request.app[RATE_LIMITS].client_auth.attempt(
        credentials.client_id, request.remote or "", credentials.secret_candidates
    )


async def _client(request: web.Request, params: dict[str, str]) -> OAuthClient:
    credentials = read_credentials(request.headers.get("Authorization"), params)
    with _limited(request, credentials):
        return await authenticate_client(request.app[DB], request.app[CLIENTS], credentials)


async def token(request: web.Request) -> web.Response:
    grant_type: str | None = None
    try:
        params = await form_params(request)
        grant_type = params.get("grant_type")
        credentials = read_credentials(request.headers.get("Authorization"), params)
        with _limited(request, credentials), pymongo.timeout(TOKEN_DB_DEADLINE):
            answer = await handle_token_request(oauth_deps(request.app), credentials, params)
    except ServiceError as exc:  # counted here, rendered by the error middleware
        metrics_registry.token_request(grant_type, exc.error)
        raise
    metrics_registry.token_request(grant_type, "issued")
    return _no_store(answer.as_dict())


async def revoke(request: web.Request) -> web.Response:
    params = await form_params(request)
    client = await _client(request, params)
    await revocation.revoke(oauth_deps(request.app), client, params)
    return _no_store({})


async def introspect(request: web.Request) -> web.Response:
    params = await form_params(request)
    client = await _client(request, params)
    return _no_store(await introspection.introspect(oauth_deps(request.app), client, params))


async def server_metadata(request: web.Request) -> web.Response:
    router = request.app.router
    paths = {
        name: str(router[f"oauth_{name}"].url_for())
        for name in ("authorize", "token", "revoke", "introspect")
    }
    return web.json_response(metadata.server_metadata(request.app[SETTINGS], paths))


def _grouped(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for key, value in pairs:
        values.setdefault(key, []).append(value)
    return values


async def _validated(
    request: web.Request, pairs: list[tuple[str, str]]
) -> authorize.AuthorizationRequest:
    try:
        settings = request.app[SETTINGS]
        return await authorize.validate(
            request.app[DB], _grouped(pairs), issuer=settings.public_base, allow_http=settings.dev
        )
    except authorize.ClientRedirect as exc:
        raise redirect_off_site(exc.location) from None


def _login_again(request: web.Request, pairs: list[tuple[str, str]]) -> web.HTTPFound:
    """`prompt=login`: through Keycloak's login form again (its own `prompt=login`), then back
    to this request without `login` in its prompt, so that it is asked once."""
    back: list[tuple[str, str]] = []
    for key, value in pairs:
        if key == "prompt":
            value = " ".join(p for p in value.split() if p != "login")
        if key != "prompt" or value:
            back.append((key, value))
    next_url = str(request.rel_url.with_query(back))
    login = request.app.router["login"].url_for().with_query({"next": next_url, "prompt": "login"})
    return web.HTTPFound(login)


async def authorize_page(request: web.Request) -> web.Response:
    pairs = list(request.query.items())
    auth = await _validated(request, pairs)
    if "login" in auth.prompt:
        raise _login_again(request, pairs)
    if "none" in auth.prompt and await current_user(request) is None:
        raise redirect_off_site(auth.error(LoginRequired()).location)
    user = await login_required(request)  # comes back to this very URL after login
    db = request.app[DB]
    if await authorize.has_consent(db, auth, user):
        raise redirect_off_site(
            await authorize.approve(
                db, auth, user, code_ttl=request.app[SETTINGS].code_ttl, remember=False
            )
        )
    if "none" in auth.prompt:
        raise redirect_off_site(authorize.consent_required(auth).location)
    # The consent form's answer is a redirect to the client: CSP form-action must allow it.
    allow_form_targets(request, auth.redirect_uri)
    return await render(
        request,
        "oauth/consent.html",
        {
            "client": auth.client,
            "scopes": [(s, scopes.describe(s)) for s in sorted(auth.scopes)],
            "fields": auth.form_fields(),
        },
    )


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
        raise BadRequest("Please choose Allow or Deny.")
    raise redirect_off_site(location)
