"""`login_attempts` collection: logins sent to Keycloak and not back yet.

The attempt (our OIDC `state`, `nonce`, PKCE verifier and where to return) is kept here rather
than in the session cookie, so the cookie stays small however long the return URL is: an Alexa
authorization request with a long `state` of its own would otherwise push the cookie past the
4 KB browsers keep, and the login would fail. The cookie holds only the state, which binds the
attempt to the browser that started it; the state is stored as a SHA-256 hash.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from service.db import Database
from service.models.identity import LoginAttempt
from service.storage.ttl import delete_expired, ensure_ttl_index

COLLECTION = "login_attempts"
# Time to type a password at Keycloak: as long as Keycloak keeps its login page (the realm's
# `accessCodeLifespanLogin`, 30 minutes by default), so that no login it accepts is refused here
# as expired.
LIFETIME = timedelta(minutes=30)


def _key(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8", "surrogatepass")).hexdigest()


async def ensure_indexes(db: Database) -> None:
    await ensure_ttl_index(db, COLLECTION, "expires_at", 0)


async def save(db: Database, attempt: LoginAttempt, now: datetime) -> None:
    await db[COLLECTION].insert_one(
        {
            "_id": _key(attempt.state),
            "nonce": attempt.nonce,
            "verifier": attempt.verifier,
            "next": attempt.next_url,
            "expires_at": now + LIFETIME,
        }
    )


async def take(db: Database, state: str, now: datetime) -> LoginAttempt | None:
    """The attempt, removed so that it serves once (of two concurrent takes, one gets it)."""
    key = _key(state)
    doc = await db[COLLECTION].find_one({"_id": key})
    if doc is None or (await db[COLLECTION].delete_one({"_id": key})).deleted_count != 1:
        return None
    if doc["expires_at"] <= now:
        return None
    return LoginAttempt(state, str(doc["nonce"]), str(doc["verifier"]), str(doc["next"]))


async def purge(db: Database, now: datetime) -> int:
    return await delete_expired(db, COLLECTION, "expires_at", now)
