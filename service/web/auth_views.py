"""Login through Keycloak (authorization code + PKCE S256, own state and nonce) and logout."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping

from aiohttp import web
from aiohttp_session import Session
from yarl import URL

from service import logins
from service.errors import BadRequest
from service.keycloak_oidc import OidcError
from service.oauth import authorize
from service.oauth.errors import UntrustedRedirect
from service.web import i18n, rate_limit
from service.web.appkeys import DB, OIDC, RATE_LIMITS, SETTINGS
from service.web.pages import render
from service.web.redirects import redirect_off_site
from service.web.session import (
    PENDING_LOGIN,
    end_user_session,
    get_session,
    require_csrf,
    safe_next,
    start_user_session,
)

log = logging.getLogger(__name__)


def _callback_url(request: web.Request) -> str:
    return request.app[SETTINGS].url(str(request.app.router["login_callback"].url_for()))


MAX_PENDING_LOGINS = 5  # tabs logging in at once


def _pending_states(session: Session) -> list[str]:
    value = session.get(PENDING_LOGIN)
    return [s for s in value if isinstance(s, str)] if isinstance(value, list) else []


async def login(request: web.Request) -> web.StreamResponse:
    # Every call stores a pending login: limited per source address (`web.rate_limit`).
    request.app[RATE_LIMITS].logins.take(request.remote or "", rate_limit.LOGIN_MESSAGE)
    session = await get_session(request)
    attempt = logins.new_attempt(safe_next(request.query.get("next")))
    url = await request.app[OIDC].authorization_url(  # KeycloakUnavailable: a 503 page
        redirect_uri=_callback_url(request),
        state=attempt.state,
        nonce=attempt.nonce,
        code_challenge=logins.code_challenge(attempt),
        ui_locales=i18n.language_of(request).tag,  # Keycloak's page in our pages' language
        # `/oauth/authorize?prompt=login` sends the user here to log in again even with a
        # Keycloak session (OpenID Connect Core 1.0 §3.1.2.1).
        prompt="login" if request.query.get("prompt") == "login" else None,
    )
    await logins.save(request.app[DB], attempt)
    # Several tabs may be logging in at once: each callback finds its own state here.
    pending = _pending_states(session)[-(MAX_PENDING_LOGINS - 1) :]
    session[PENDING_LOGIN] = [*pending, attempt.state]
    raise redirect_off_site(url)


async def login_callback(request: web.Request) -> web.StreamResponse:
    session = await get_session(request)
    state = request.query.get("state", "")
    states = _pending_states(session)
    mine = [
        s
        for s in states
        if secrets.compare_digest(s.encode(), state.encode("utf-8", "surrogatepass"))
    ]
    others = [s for s in states if s not in mine]
    pending = None
    if mine:
        session[PENDING_LOGIN] = others  # single use
        pending = await logins.take(request.app[DB], state)
    if pending is None:
        raise BadRequest("This login link is no longer valid. Please start the login again.")
    language = i18n.language_of_url(pending.next_url)  # the language the login started in
    if language is not None:
        i18n.use_language(request, language)
    if "error" in request.query:
        return await _login_ended(request, pending.next_url)
    code = request.query.get("code")
    if not code:
        raise BadRequest("The login answer is missing its code. Please log in again.")
    try:
        result = await request.app[OIDC].finish_login(
            code=code,
            redirect_uri=_callback_url(request),
            code_verifier=pending.verifier,
            nonce=pending.nonce,
        )
    except OidcError as exc:  # a readable page (503 when Keycloak does not answer)
        log.info("login callback refused: %s", exc.description)
        raise
    await start_user_session(request, result.user, result.refresh_token)
    await logins.note_login(request.app[DB], result.user)  # the admin search's name and email
    if others:  # other tabs still on their way through Keycloak
        (await get_session(request))[PENDING_LOGIN] = others
    log.info("user %s logged in", result.user.username)
    raise web.HTTPFound(safe_next(pending.next_url))


# Keycloak's answers for a login the person left or could not finish without interaction
# (RFC 6749 §4.1.2.1, OpenID Connect Core 1.0 §3.1.2.6); and Keycloak's own for a login
# session that expired in that tab (docs/flows.md, "Leaving the login").
LEFT_THE_LOGIN = {"access_denied", "login_required", "consent_required", "interaction_required"}
EXPIRED = ("temporarily_unavailable", "authentication_expired")
_LOGGED_ERROR = re.compile(r"[a-z_]{1,40}")


def _left(query: Mapping[str, str]) -> bool:
    error = query.get("error", "")
    return error in LEFT_THE_LOGIN or (error, query.get("error_description")) == EXPIRED


async def _denial_for_client(request: web.Request, next_url: str) -> str | None:
    """When the login was for an authorization request, where its client hears that the
    customer left (`error=access_denied`, the client's `state` unchanged): only for a client
    and redirect URI that still check out; None otherwise."""
    target = URL(next_url)
    if target.path != request.app.router["oauth_authorize"].url_for().path:
        return None
    values = {name: target.query.getall(name) for name in target.query}
    try:
        settings = request.app[SETTINGS]
        issuer = settings.public_base  # `iss` for clients that want it (RFC 9207)
        return authorize.deny(
            await authorize.validate(
                request.app[DB], values, issuer=issuer, allow_http=settings.dev
            )
        )
    except UntrustedRedirect:
        return None
    except authorize.ClientRedirect as exc:  # the request itself went bad meanwhile
        return exc.location


async def _login_ended(request: web.Request, next_url: str) -> web.StreamResponse:
    """Keycloak came back with an error instead of a code. The customer who left the login
    (or whose login session expired) goes back to Alexa with `access_denied`; any other error
    ends on a page that says so, with a way back to the Alexa app."""
    error = request.query.get("error", "")
    log.info(
        "login at Keycloak ended without a code: %s",
        error if _LOGGED_ERROR.fullmatch(error) else "(unreadable error)",
    )
    left = _left(request.query)
    back_to_app = await _denial_for_client(request, next_url)
    if left and back_to_app is not None:
        raise redirect_off_site(back_to_app)
    return await render(
        request,
        "login_ended.html",
        {"cancelled": left, "back_to_app": back_to_app},
        status=400,
    )


async def logout(request: web.Request) -> web.StreamResponse:
    await require_csrf(request)
    refresh = await end_user_session(request)
    if refresh:
        await request.app[OIDC].logout(refresh)
    raise web.HTTPFound("/")
