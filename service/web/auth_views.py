"""Login through Keycloak (authorization code + PKCE S256, own state and nonce) and logout."""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime

from aiohttp import web
from aiohttp_session import Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from service.appkeys import DB, OIDC, SETTINGS
from service.keycloak_oidc import KeycloakUnavailable, OidcError
from service.storage import login_attempts
from service.storage.login_attempts import LoginAttempt
from service.web.errors import error_page
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
routes = web.RouteTableDef()


def _callback_url(request: web.Request) -> str:
    return request.app[SETTINGS].url(str(request.app.router["login_callback"].url_for()))


MAX_PENDING_LOGINS = 5  # tabs logging in at once


def _pending_states(session: Session) -> list[str]:
    value = session.get(PENDING_LOGIN)
    return [s for s in value if isinstance(s, str)] if isinstance(value, list) else []


@routes.get("/login", name="login")
async def login(request: web.Request) -> web.StreamResponse:
    session = await get_session(request)
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(64)
    try:
        url = await request.app[OIDC].authorization_url(
            redirect_uri=_callback_url(request),
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier),
        )
    except OidcError as exc:
        raise error_page(request, 503, exc.message) from None
    attempt = LoginAttempt(state, nonce, verifier, safe_next(request.query.get("next")))
    await login_attempts.save(request.app[DB], attempt, datetime.now(UTC))
    # Several tabs may be logging in at once: each callback finds its own state here.
    session[PENDING_LOGIN] = [*_pending_states(session)[-(MAX_PENDING_LOGINS - 1) :], state]
    raise redirect_off_site(url)


@routes.get("/login/callback", name="login_callback")
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
        pending = await login_attempts.take(request.app[DB], state, datetime.now(UTC))
    if pending is None:
        raise error_page(
            request, 400, "This login link is no longer valid. Please start the login again."
        )
    if "error" in request.query:
        raise error_page(request, 400, "The login was cancelled or refused. Please try again.")
    code = request.query.get("code")
    if not code:
        raise error_page(request, 400, "The login answer is missing its code. Please log in again.")
    try:
        result = await request.app[OIDC].finish_login(
            code=code,
            redirect_uri=_callback_url(request),
            code_verifier=pending.verifier,
            nonce=pending.nonce,
        )
    except OidcError as exc:
        log.info("login callback refused: %s", exc.message)
        status = 503 if isinstance(exc, KeycloakUnavailable) else 400
        raise error_page(request, status, exc.message) from None
    await start_user_session(request, result.user, result.refresh_token)
    if others:  # other tabs still on their way through Keycloak
        (await get_session(request))[PENDING_LOGIN] = others
    log.info("user %s logged in", result.user.username)
    raise web.HTTPFound(safe_next(pending.next_url))


@routes.post("/logout", name="logout")
async def logout(request: web.Request) -> web.StreamResponse:
    await require_csrf(request)
    refresh = await end_user_session(request)
    if refresh:
        await request.app[OIDC].logout(refresh)
    raise web.HTTPFound("/")
