"""Browser logins through Keycloak: attempts on their way (kept server-side, so the session
cookie stays small), and sessions ended by logout (so a copy of the cookie is refused) or because
the user was disabled or deleted in Keycloak."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Final

import pymongo
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from pymongo.errors import PyMongoError

from service.clock import utcnow
from service.db import Database, unavailable
from service.models.identity import LoginAttempt, User
from service.storage import ended_sessions, grants, login_attempts

log = logging.getLogger(__name__)

NOTE_SECONDS: Final = 0.5  # the most a login waits to note the user's name and email


def new_attempt(next_url: str) -> LoginAttempt:
    """A new attempt: our own state, nonce and PKCE verifier (RFC 7636)."""
    return LoginAttempt(
        state=secrets.token_urlsafe(24),
        nonce=secrets.token_urlsafe(24),
        verifier=secrets.token_urlsafe(64),
        next_url=next_url,
    )


def code_challenge(attempt: LoginAttempt) -> str:
    return str(create_s256_code_challenge(attempt.verifier))


async def save(db: Database, attempt: LoginAttempt) -> None:
    """Kept until the login comes back (or 30 minutes)."""
    await login_attempts.save(db, attempt, utcnow())


async def take(db: Database, state: str) -> LoginAttempt | None:
    """The attempt of that state, once (None when unknown, used or expired)."""
    return await login_attempts.take(db, state, utcnow())


async def end_session(db: Database, session_id: str, *, max_age: int) -> None:
    """Refuse this session id from now until its cookie would have expired anyway."""
    await ended_sessions.end(db, session_id, until=utcnow() + timedelta(seconds=max_age))


async def end_user_sessions(db: Database, user_id: str, *, before: datetime, max_age: int) -> None:
    """End every session of the user started before `before`; recorded until the last of
    them would have expired anyway."""
    await ended_sessions.end_user(
        db, user_id, before=before, until=before + timedelta(seconds=max_age)
    )


async def is_ended(
    db: Database, session_id: str, *, user_id: str, started_at: datetime | None
) -> bool:
    return await ended_sessions.is_ended(db, session_id, user_id=user_id, started_at=started_at)


async def note_login(db: Database, user: User) -> None:
    """The user's consents take the username and email Keycloak gave at this login (users can
    be renamed; the admin pages search by them), and the login counts as their activity.

    Best effort, within NOTE_SECONDS: the login never waits longer for it nor fails because of
    it (on FerretDB the update reads every consent, docs/libraries.md §7); the snapshot is
    written again at the user's next consent or login."""
    try:
        with pymongo.timeout(NOTE_SECONDS):
            await grants.note_login(
                db, user_id=user.id, username=user.username, email=user.email or None, at=utcnow()
            )
    except PyMongoError as exc:
        if not unavailable(exc):
            raise
        log.warning(
            "the username and email of user %s were not noted at login (%s)",
            user.id,
            type(exc).__name__,
        )
