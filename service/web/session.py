"""Browser sessions (encrypted cookie), the logged-in user, and CSRF tokens for our forms."""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp_session
from aiohttp import web
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from service import logins
from service.errors import BadRequest, Forbidden
from service.models.identity import User
from service.settings import Settings
from service.web.appkeys import DB, SETTINGS, USERS

COOKIE_NAME = "als_session"
USER = "user"
CSRF = "csrf"
KEYCLOAK_REFRESH = "kc_rt"
PENDING_LOGIN = "login"
SESSION_ID = "sid"  # random per login; logout records it in `ended_sessions`
STARTED = "started"  # when the person logged in (epoch seconds): the user's roles are of then
_USER = web.RequestKey("user", object)  # current_user's answer, once per request

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def session_middleware(settings: Settings) -> Any:
    storage = EncryptedCookieStorage(
        settings.session_key_bytes,
        cookie_name=COOKIE_NAME,
        max_age=settings.session_max_age,
        httponly=True,
        samesite="Lax",
        secure=settings.secure_cookies,
    )
    return aiohttp_session.session_middleware(storage)


async def get_session(request: web.Request) -> aiohttp_session.Session:
    return await aiohttp_session.get_session(request)


def _started(session: aiohttp_session.Session) -> float | None:
    started = session.get(STARTED)
    return float(started) if isinstance(started, int | float) else None


async def current_user(request: web.Request) -> User | None:
    """The logged-in user, unless the session was ended: by logout (a copied cookie), or
    because the user was disabled or deleted in Keycloak since it started
    (`service.identity_sync`)."""
    if _USER in request:
        return request[_USER]  # type: ignore[return-value]
    session = await get_session(request)
    user = User.from_session(session.get(USER))
    session_id = session.get(SESSION_ID)
    if user is not None:
        started = _started(session)
        if not isinstance(session_id, str) or await logins.is_ended(
            request.app[DB],
            session_id,
            user_id=user.id,
            started_at=None if started is None else datetime.fromtimestamp(started, UTC),
        ):
            session.invalidate()
            user = None
    request[_USER] = user
    return user


async def end_user_session(request: web.Request) -> str | None:
    """Log out: the session is emptied and its id refused from now on (also in copies of the
    cookie); returns Keycloak's refresh token, to end that session too."""
    session = await get_session(request)
    refresh = session.get(KEYCLOAK_REFRESH)
    session_id = session.get(SESSION_ID)
    if isinstance(session_id, str):
        max_age = request.app[SETTINGS].session_max_age
        await logins.end_session(request.app[DB], session_id, max_age=max_age)
    session.invalidate()
    request[_USER] = None
    return refresh if isinstance(refresh, str) else None


async def start_user_session(
    request: web.Request, user: User, keycloak_refresh: str | None
) -> None:
    """A fresh session for the user (the pre-login contents are dropped, against fixation)."""
    session = await aiohttp_session.new_session(request)
    session[USER] = user.to_session()
    session[SESSION_ID] = secrets.token_urlsafe(24)
    session[STARTED] = time.time()
    request[_USER] = user
    session[CSRF] = secrets.token_urlsafe(32)
    if keycloak_refresh:
        session[KEYCLOAK_REFRESH] = keycloak_refresh


async def csrf_token(request: web.Request) -> str:
    session = await get_session(request)
    token = session.get(CSRF)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF] = token
    return token


def csrf_valid(session: aiohttp_session.Session, submitted: object) -> bool:
    expected = session.get(CSRF)
    return (
        isinstance(expected, str)
        and isinstance(submitted, str)
        and secrets.compare_digest(expected.encode(), submitted.encode())
    )


async def require_csrf(request: web.Request) -> dict[str, str]:
    """Read a POSTed form and check its CSRF token; returns the form fields."""
    try:
        form = await request.post()
    except (UnicodeDecodeError, ValueError, LookupError):  # not UTF-8, unknown charset, not a form
        raise BadRequest("The form could not be read. Please try again.") from None
    session = await get_session(request)
    if not csrf_valid(session, form.get("csrf_token")):
        raise Forbidden("This form has expired or was not sent from our pages. Please try again.")
    return {k: v for k, v in form.items() if isinstance(v, str)}


def safe_next(value: str | None, default: str = "/") -> str:
    """Only same-site relative paths may be returned to after login (no open redirect).

    Browsers (and yarl, which builds our Location header) drop tabs and newlines from a URL and
    read a backslash as `/`, so `/<tab>/evil.example` would become `//evil.example`: any
    control character or backslash makes the value unsafe."""
    if (
        not value
        or not value.startswith("/")
        or value.startswith("//")
        or any(c < " " or c in "\x7f\\" for c in value)
    ):
        return default
    return value


async def login_required(request: web.Request) -> User:
    """The logged-in user, or a redirect to /login that comes back to this very request."""
    user = await current_user(request)
    if user is None:
        location = request.app.router["login"].url_for().with_query({"next": str(request.rel_url)})
        raise web.HTTPFound(location)
    return user


async def admin_required(request: web.Request) -> User:
    """A logged-in user who holds the realm role `admin` now: the role is read again from
    Keycloak once it is older than ALS_KEYCLOAK_SYNC_SECONDS (the last known answer while
    Keycloak does not answer; `service.user_directory`). Someone who was no admin at login
    logs in again to become one."""
    user = await login_required(request)
    session = await get_session(request)
    if not user.is_admin or not await request.app[USERS].is_admin(
        user, roles_read_at=_started(session)
    ):
        raise Forbidden("This page is for administrators.")
    return user
