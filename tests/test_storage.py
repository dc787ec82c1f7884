"""Storage against the real Mongo-protocol server: indexes exist, documents round-trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp.test_utils import TestServer

from service.models.identity import LoginAttempt
from service.storage import audit, login_attempts
from service.web.appkeys import DB


async def test_indexes_created_and_audit_round_trip(server: TestServer) -> None:
    db = server.app[DB]
    names = {ix["name"] for ix in await (await db[audit.COLLECTION].list_indexes()).to_list(None)}
    assert "at_-1" in names and "user_id_1_at_-1" in names
    await audit.record(db, "link", actor="user-1", user_id="user-1", partner_id="p1")
    rows = await audit.recent(db, user_id="user-1")
    assert len(rows) == 1
    assert rows[0]["action"] == "link" and rows[0]["details"] == {"partner_id": "p1"}
    assert rows[0]["at"].tzinfo is not None


async def test_login_attempt_serves_once_and_not_after_it_expires(server: TestServer) -> None:
    db = server.app[DB]
    now = datetime.now(UTC)
    attempt = LoginAttempt("state-1", "nonce", "verifier", "/account")
    await login_attempts.save(db, attempt, now)
    assert await login_attempts.take(db, "state-1", now) == attempt
    assert await login_attempts.take(db, "state-1", now) is None
    await login_attempts.save(db, LoginAttempt("state-2", "n", "v", "/"), now)
    assert await login_attempts.take(db, "state-2", now + login_attempts.LIFETIME) is None
    # A login Keycloak still accepts (its login page lives 30 minutes) comes back in time.
    slow = LoginAttempt("state-3", "n", "v", "/")
    await login_attempts.save(db, slow, now)
    assert await login_attempts.take(db, "state-3", now + timedelta(minutes=29)) == slow
    assert await login_attempts.take(db, "never-saved", now) is None
