"""Login through Keycloak (authorization code + PKCE S256, own state and nonce) and logout."""

from __future__ import annotations

import logging
import secrets

from aiohttp import web
from aiohttp_session import Session

from service import logins
from service.errors import BadRequest
from service.keycloak_oidc import OidcError
from service.web.appkeys import DB, OIDC, SETTINGS
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
    session = await get_session(request)
    attempt = logins.new_attempt(safe_next(request.query.get("next")))
    url = await request.app[OIDC].authorization_url(  # KeycloakUnavailable: a 503 page
        redirect_uri=_callback_url(request),
        state=attempt.state,
        nonce=attempt.nonce,
        code_challenge=logins.code_challenge(attempt),
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
    if "error" in request.query:
        raise BadRequest("The login was cancelled or refused. Please try again.")
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
    if others:  # other tabs still on their way through Keycloak
        (await get_session(request))[PENDING_LOGIN] = others
    log.info("user %s logged in", result.user.username)
    raise web.HTTPFound(safe_next(pending.next_url))


async def logout(request: web.Request) -> web.StreamResponse:
    await require_csrf(request)
    refresh = await end_user_session(request)
    if refresh:
        await request.app[OIDC].logout(refresh)
    raise web.HTTPFound("/")
