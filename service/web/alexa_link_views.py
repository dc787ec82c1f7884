"""Linking that starts on our side (`service.linking.app_to_app`; README "Link with Alexa"):
the account page's "Link with Alexa" and "Unlink" buttons, LWA's way back to us, the app
backend's API for the developer's mobile app, and the admin's button that registers our
callback on the partner's OAuth client.

The pending link (state, PKCE verifier, partner, start time) lives in the browser's session,
an encrypted cookie (`service.web.session`), so the callback accepts only the answer to a link
this very browser started, once. Errors are the domain's `ServiceError`s, rendered by
`service.web.errors`; the callback renders them itself so that the session, with the pending
link removed, is still saved.
"""

from __future__ import annotations

import secrets
import time
from typing import Any, Final

from aiohttp import web

from service.errors import NO_STORE, ServiceError
from service.keycloak_admin import KeycloakUser
from service.linking import app_to_app
from service.linking.app_to_app_errors import (
    AlexaRefusedEnablement,
    AmazonCodeRefused,
    AmazonDenied,
    LinkStateInvalid,
    UserNotFound,
)
from service.linking.backend_access import require_backend
from service.linking.errors import PartnerNotFound
from service.models.identity import User
from service.oauth import clients as client_domain
from service.oauth.errors import InvalidRequest
from service.web import errors
from service.web.appkeys import CLIENTS, DB, KEYCLOAK_ADMIN, SETTINGS, UNLINK_HOOKS, linking_deps
from service.web.bearer import require_bearer
from service.web.i18n import N_
from service.web.pages import render
from service.web.params import api_params, text_param
from service.web.session import admin_required, get_session, login_required, require_csrf

PENDING: Final = "alexa_link"  # the session's pending link

# The customer-facing texts of `service.linking.app_to_app_errors`, for the catalogs (the
# error page shows them translated; tests/linking/test_app_to_app.py keeps the lists equal).
ERROR_TEXTS: Final = (
    N_("This app cannot be linked with Alexa from here."),
    N_("Linking with Alexa is not completely set up yet. Please try again later."),
    N_(
        "This answer from Amazon does not belong to a link started here, or it came too late. "
        "Please start again from your account page."
    ),
    N_("You did not allow the link at Amazon. Nothing was changed."),
    N_(
        "Amazon's sign-in was no longer valid (it expires after five minutes and works only "
        "once). Please start again."
    ),
    N_("Amazon no longer accepts your sign-in. Please start again."),
    N_(
        "Amazon did not allow enabling the skill for your Amazon account. A skill still in "
        "development can only be enabled by its beta testers."
    ),
    N_(
        "The skill is not available for your Amazon account. It may not be offered in your country."
    ),
    N_("Amazon could not enable the skill. Please try again later."),
    N_("Amazon could not be reached. Nothing was changed. Please try again later."),
)


def callback_url(request: web.Request) -> str:
    """Where LWA sends the customer back: `{public URL}/account/alexa/callback` (the skill's
    LWA security profile must allow it; the partner's OAuth client must hold it)."""
    return request.app[SETTINGS].url(app_to_app.CALLBACK_PATH)


async def alexa_link(request: web.Request) -> web.Response:
    """`POST /account/alexa/link` (`partner_id`): off to LWA's consent page."""
    await login_required(request)
    form = await require_csrf(request)
    started = await app_to_app.start(
        request.app[DB],
        form.get("partner_id", ""),
        redirect_uri=callback_url(request),
        allow_custom=request.app[SETTINGS].allow_custom_amazon_urls,
    )
    session = await get_session(request)
    session[PENDING] = {
        "state": started.state,
        "verifier": started.code_verifier,
        "partner_id": started.partner_id,
        "started": time.time(),
    }
    raise web.HTTPSeeOther(started.url)


def _pending(session: Any, state: str | None) -> dict[str, Any]:
    """The pending link the callback's `state` answers, or `LinkStateInvalid`."""
    pending = session.pop(PENDING, None)
    if (
        not isinstance(pending, dict)
        or not isinstance(pending.get("state"), str)
        or not isinstance(state, str)
        or not secrets.compare_digest(pending["state"].encode(), state.encode())
        or not isinstance(pending.get("started"), int | float)
        or time.time() - pending["started"] > app_to_app.PENDING_SECONDS
    ):
        raise LinkStateInvalid()
    return pending


async def alexa_callback(request: web.Request) -> web.StreamResponse:
    """`GET /account/alexa/callback`: LWA's answer (`code` and `state`, or `error`)."""
    user = await login_required(request)
    session = await get_session(request)
    try:
        pending = _pending(session, request.query.get("state"))
        error = request.query.get("error")
        if error == "access_denied":
            raise AmazonDenied()
        if error:
            raise AlexaRefusedEnablement(lwa_error=error[:100])
        code = request.query.get("code")
        if not code:
            raise AmazonCodeRefused()
        enablement = await app_to_app.complete(
            linking_deps(request.app),
            user=user,
            partner_id=str(pending.get("partner_id", "")),
            amazon_code=code,
            redirect_uri=callback_url(request),
            code_verifier=str(pending.get("verifier", "")) or None,
            code_ttl=request.app[SETTINGS].code_ttl,
            via="website",
        )
    except ServiceError as exc:
        return errors.render(request, exc)  # returned, not raised: the session is saved
    client = await client_domain.get_client(request.app[DB], enablement.partner_id)
    name = client.name if client is not None else enablement.partner_id
    return await render(request, "account/alexa_linked.html", {"name": name})


async def alexa_unlink(request: web.Request) -> web.Response:
    """`POST /account/alexa/unlink` (`partner_id`): disable the skill at Amazon, end ours."""
    user = await login_required(request)
    form = await require_csrf(request)
    partner_id = form.get("partner_id", "")
    told = await app_to_app.unlink(
        linking_deps(request.app),
        request.app[UNLINK_HOOKS],
        user_id=user.id,
        partner_id=partner_id,
        actor=user.id,
    )
    query = {"alexa_unlinked": partner_id, "amazon": "told" if told else "untold"}
    raise web.HTTPSeeOther(request.app.router["account"].url_for().with_query(query))


async def _keycloak_user(request: web.Request, user_ref: str) -> User:
    """The user an app backend names: our user's id (Keycloak `sub`), or a username."""
    keycloak = request.app[KEYCLOAK_ADMIN]
    found: KeycloakUser | None = await keycloak.user(user_ref)
    if found is None:
        found = await keycloak.user_by_username(user_ref)
    if found is None or not found.enabled:
        raise UserNotFound(field="user_id")
    return User(id=found.id, username=found.username)


async def alexa_enablement(request: web.Request) -> web.Response:
    """`POST /api/partner/alexa-enablement`: the developer's app got Amazon's code (Alexa app
    or LWA); enable and link the skill for the user (README "Link with Alexa")."""
    backend = await require_backend(request.app[DB], await require_bearer(request))
    params = await api_params(request)
    user_ref, partner_id = text_param(params, "user_id"), text_param(params, "partner_id")
    backend.for_partner(partner_id)
    code, redirect_uri = text_param(params, "code"), text_param(params, "redirect_uri")
    verifier = params.get("code_verifier")
    if verifier is not None and (not isinstance(verifier, str) or not verifier.strip()):
        raise InvalidRequest("code_verifier must be a non-empty string", field="code_verifier")
    await app_to_app.linkable_partner(request.app[DB], partner_id)  # before asking Keycloak
    user = await _keycloak_user(request, user_ref)
    enablement = await app_to_app.complete(
        linking_deps(request.app),
        user=user,
        partner_id=partner_id,
        amazon_code=code,
        redirect_uri=redirect_uri,
        code_verifier=verifier.strip() if isinstance(verifier, str) else None,
        code_ttl=request.app[SETTINGS].code_ttl,
        via="app",
    )
    body = {
        "status": "linked",
        "user_id": enablement.user_id,
        "partner_id": enablement.partner_id,
        "skill_id": enablement.skill_id,
        "stage": enablement.stage,
    }
    return web.json_response(body, status=201, headers=NO_STORE)


async def admin_register_callback(request: web.Request) -> web.Response:
    """`POST /admin/partners/{partner_id}/alexa-callback`: add our callback URL to the redirect
    URIs of the partner's OAuth client (the admin partner page offers it)."""
    admin = await admin_required(request)
    await require_csrf(request)
    partner_id = request.match_info["partner_id"]
    db = request.app[DB]
    client = await client_domain.get_client(db, partner_id)
    if client is None:
        raise PartnerNotFound("There is no OAuth client with the partner's id.")
    url = callback_url(request)
    if url not in client.redirect_uris:
        settings = client_domain.settings_of(client)
        settings["redirect_uris"] = (*client.redirect_uris, url)
        try:
            await client_domain.update_client(
                db,
                partner_id,
                actor=admin.username,
                allow_http_redirect_uris=request.app[SETTINGS].dev,
                **settings,
            )
        except client_domain.ClientConfigError as exc:
            raise InvalidRequest(str(exc)) from None
        request.app[CLIENTS].forget(partner_id)
    raise web.HTTPSeeOther(request.app.router["admin_partner"].url_for(partner_id=partner_id))
